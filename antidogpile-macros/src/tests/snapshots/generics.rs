fn decode<'a, T, const N: usize>(bytes: &'a [u8; N]) -> Result<T, DecodeError>
where
    T: serde::de::DeserializeOwned,
{
    static __ANTIDOGPILE_SITE: ::antidogpile::__private::Site = ::antidogpile::__private::Site::new(
        ::core::concat!(::core::module_path!(), "::", "decode"),
        ::antidogpile::__private::SiteOptions {
            soft_ms: 2000,
            factor: ::core::option::Option::None,
            grace_ms: ::core::option::Option::None,
            version: 0,
            cache: ::core::option::Option::None,
            jitter: 0.0,
            background: false,
        },
    );
    let __antidogpile_key = {
        let mut __h = ::antidogpile::__private::KeyHasher::new(&__ANTIDOGPILE_SITE);
        __h.type_param::<T>();
        __h.arg(&N);
        __h.arg(&bytes);
        __h.finish()
    };
    ::antidogpile::__private::memoize::<
        Result<T, DecodeError>,
    >(
        &__ANTIDOGPILE_SITE,
        __antidogpile_key,
        move || -> Result<T, DecodeError> { postcard::from_bytes(bytes) },
    )
}
