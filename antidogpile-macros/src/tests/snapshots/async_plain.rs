async fn greeting(name: String) -> String {
    static __ANTIDOGPILE_SITE: ::antidogpile::__private::Site = ::antidogpile::__private::Site::new(
        ::core::concat!(::core::module_path!(), "::", "greeting"),
        ::antidogpile::__private::SiteOptions {
            soft_ms: 86400000,
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
        __h.arg(&name);
        __h.finish()
    };
    ::antidogpile::__private::memoize_async::<
        ::antidogpile::__private::Always<String>,
        _,
    >(
            &__ANTIDOGPILE_SITE,
            __antidogpile_key,
            async move {
                ::antidogpile::__private::Always(
                    async move { format!("hello {name}") }.await,
                )
            },
        )
        .await
        .0
}
