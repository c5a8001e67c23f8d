//! The memcached codec against a real memcached: the exact replies each
//! request gets (the checks are in `antidogpile/src/fuzz/against_memcached.rs`,
//! next to the private codec, reached through the hidden `__fuzz` feature).
//! Each test starts a memcached of its own.

use antidogpile::__fuzz::against_memcached as check;
use antidogpile_test_support::memcached::Memcached;

/// One test per check, each against a fresh server.
macro_rules! against_a_fresh_server {
    ($($check:ident),+ $(,)?) => {$(
        #[test]
        fn $check() {
            let server = Memcached::start();
            check::$check(server.port());
        }
    )+};
}

against_a_fresh_server!(
    a_miss_is_en,
    a_set_value_comes_back_with_its_flags_cas_and_ttl,
    a_set_with_a_stale_cas_is_ex_and_one_on_nothing_is_nf,
    add_on_an_existing_key_is_ns,
    delete_is_hd_then_nf_and_ex_with_a_wrong_cas,
    arithmetic_counts_numbers_and_refuses_anything_else,
    every_kind_of_key_round_trips_under_its_own_name,
    memcached_files_a_base64_key_under_its_decoded_bytes,
    a_quiet_pipeline_answers_only_what_matters_then_mn,
    one_caller_wins_a_missing_or_invalidated_item,
    a_vivified_stub_is_empty_with_client_flags_zero_and_its_ttl,
    invalidating_a_stub_ends_its_lease_and_hands_the_win_on,
    the_recache_win_goes_to_one_reader_once_the_remaining_ttl_is_below_the_token,
    invalidation_marks_stale_bumps_the_cas_resets_the_win_and_sets_the_ttl,
    a_set_to_invalid_by_an_older_cas_lands_stale_and_answers_as_a_plain_store,
);
