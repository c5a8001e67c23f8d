/// The monthly report of one customer.
#[inline]
pub fn report(customer: u64, month: u8) -> Result<Report, DbError> {
    static __ANTIDOGPILE_SITE: ::antidogpile::__private::Site = ::antidogpile::__private::Site::new(
        ::core::concat!(::core::module_path!(), "::", "report"),
        ::antidogpile::__private::SiteOptions {
            soft_ms: 30000,
            factor: ::core::option::Option::Some(8),
            grace_ms: ::core::option::Option::None,
            version: 0,
            cache: ::core::option::Option::None,
            jitter: 0.0,
            background: false,
        },
    );
    let __antidogpile_key = {
        let mut __h = ::antidogpile::__private::KeyHasher::new(&__ANTIDOGPILE_SITE);
        __h.arg(&customer);
        __h.arg(&month);
        __h.finish()
    };
    ::antidogpile::__private::memoize::<
        Result<Report, DbError>,
    >(
        &__ANTIDOGPILE_SITE,
        __antidogpile_key,
        move || -> Result<Report, DbError> {
            let rows = query(customer, month)?;
            Ok(Report::from(rows))
        },
    )
}
