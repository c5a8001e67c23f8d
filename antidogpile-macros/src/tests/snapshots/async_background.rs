async fn weather(city: String) -> Weather {
    static __ANTIDOGPILE_SITE: ::antidogpile::__private::Site = ::antidogpile::__private::Site::new(
        ::core::concat!(::core::module_path!(), "::", "weather"),
        ::antidogpile::__private::SiteOptions {
            soft_ms: 30000,
            factor: ::core::option::Option::None,
            grace_ms: ::core::option::Option::None,
            version: 0,
            cache: ::core::option::Option::None,
            jitter: 0.0,
            background: true,
        },
    );
    let __antidogpile_key = {
        let mut __h = ::antidogpile::__private::KeyHasher::new(&__ANTIDOGPILE_SITE);
        __h.arg(&city);
        __h.finish()
    };
    ::antidogpile::__private::memoize_async_background::<
        ::antidogpile::__private::Always<Weather>,
        _,
    >(
            &__ANTIDOGPILE_SITE,
            __antidogpile_key,
            async move {
                ::antidogpile::__private::Always(
                    async move { forecast(&city).await }.await,
                )
            },
        )
        .await
        .0
}
