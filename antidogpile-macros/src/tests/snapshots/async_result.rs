pub(crate) async fn fetch(url: String) -> Result<Vec<u8>, reqwest::Error> {
    static __ANTIDOGPILE_SITE: ::antidogpile::__private::Site = ::antidogpile::__private::Site::new(
        ::core::concat!(::core::module_path!(), "::", "fetch"),
        ::antidogpile::__private::SiteOptions {
            soft_ms: 300000,
            factor: ::core::option::Option::None,
            grace_ms: ::core::option::Option::Some(10000),
            version: 0,
            cache: ::core::option::Option::None,
            jitter: 0.1,
            background: false,
        },
    );
    let __antidogpile_key = {
        let mut __h = ::antidogpile::__private::KeyHasher::new(&__ANTIDOGPILE_SITE);
        __h.arg(&url);
        __h.finish()
    };
    ::antidogpile::__private::memoize_async::<
        Result<Vec<u8>, reqwest::Error>,
        _,
    >(
            &__ANTIDOGPILE_SITE,
            __antidogpile_key,
            async move {
                let response = reqwest::get(&url).await?;
                Ok(response.bytes().await?.to_vec())
            },
        )
        .await
}
