fn find_user(id: u64) -> Option<User> {
    static __ANTIDOGPILE_SITE: ::antidogpile::__private::Site = ::antidogpile::__private::Site::new(
        ::core::concat!(::core::module_path!(), "::", "find_user"),
        ::antidogpile::__private::SiteOptions {
            soft_ms: 3600000,
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
        __h.arg(&id);
        __h.finish()
    };
    ::antidogpile::__private::memoize::<
        Option<User>,
    >(
        &__ANTIDOGPILE_SITE,
        __antidogpile_key,
        move || -> Option<User> {
            if id == 0 {
                return None;
            }
            USERS.get(&id).cloned()
        },
    )
}
