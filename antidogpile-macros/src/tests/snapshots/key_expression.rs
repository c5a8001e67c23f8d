fn timeline(&self, user: &User, page: u32) -> Option<Timeline> {
    static __ANTIDOGPILE_SITE: ::antidogpile::__private::Site = ::antidogpile::__private::Site::new(
        ::core::concat!(::core::module_path!(), "::", "timeline"),
        ::antidogpile::__private::SiteOptions {
            soft_ms: 10000,
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
        __h.type_param::<Self>();
        __h.arg(&(user.id, page / 10));
        __h.finish()
    };
    ::antidogpile::__private::memoize::<
        Option<Timeline>,
    >(
        &__ANTIDOGPILE_SITE,
        __antidogpile_key,
        move || -> Option<Timeline> { self.store.timeline(user.id, page) },
    )
}
