#[must_use]
pub fn score(&self, word: &str) -> u32 {
    #![allow(clippy::cast_possible_truncation)]
    static __ANTIDOGPILE_SITE: ::antidogpile::__private::Site = ::antidogpile::__private::Site::new(
        ::core::concat!(::core::module_path!(), "::", "score"),
        ::antidogpile::__private::SiteOptions {
            soft_ms: 250,
            factor: ::core::option::Option::None,
            grace_ms: ::core::option::Option::None,
            version: 0,
            cache: ::core::option::Option::Some("local"),
            jitter: 0.0,
            background: false,
        },
    );
    let __antidogpile_key = {
        let mut __h = ::antidogpile::__private::KeyHasher::new(&__ANTIDOGPILE_SITE);
        __h.type_param::<Self>();
        __h.arg(&word);
        __h.finish()
    };
    ::antidogpile::__private::memoize::<
        ::antidogpile::__private::Always<u32>,
    >(
            &__ANTIDOGPILE_SITE,
            __antidogpile_key,
            move || -> ::antidogpile::__private::Always<u32> {
                ::antidogpile::__private::Always(
                    (move || -> u32 {
                        if word.is_empty() {
                            return 0;
                        }
                        self.weights.iter().map(|w| w * word.len() as u32).sum()
                    })(),
                )
            },
        )
        .0
}
