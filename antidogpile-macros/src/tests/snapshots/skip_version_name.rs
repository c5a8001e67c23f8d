fn invoice(conn: &Db, id: InvoiceId, _log: &Logger, _: Trace) -> Result<Invoice, Error> {
    static __ANTIDOGPILE_SITE: ::antidogpile::__private::Site = ::antidogpile::__private::Site::new(
        "billing::invoice",
        ::antidogpile::__private::SiteOptions {
            soft_ms: 90000,
            factor: ::core::option::Option::None,
            grace_ms: ::core::option::Option::None,
            version: 3,
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
        Result<Invoice, Error>,
    >(
        &__ANTIDOGPILE_SITE,
        __antidogpile_key,
        move || -> Result<Invoice, Error> { conn.load(id) },
    )
}
