//! Methods (`&self` is not part of the key unless asked), `key = expr`,
//! `skip`, generic functions, and `async fn` futures that stay `Send`.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use antidogpile::{antidogpiled, install_named, store::MemoryStore, Cache};

struct Repository {
    tenant: u32,
    calls: AtomicU64,
}

impl Repository {
    #[antidogpiled(soft = "1h", cache = "methods")]
    fn name_of(&self, id: u32) -> String {
        self.calls.fetch_add(1, Ordering::SeqCst);
        format!("user {id}")
    }

    #[antidogpiled(soft = "1h", cache = "methods", key = (self.tenant, id))]
    fn tenant_scoped(&self, id: u32) -> String {
        self.calls.fetch_add(1, Ordering::SeqCst);
        format!("tenant {} user {id}", self.tenant)
    }

    #[antidogpiled(soft = "1h", cache = "async_methods")]
    async fn name_async(&self, id: u32) -> Option<String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Some(format!("async user {id}"))
    }
}

fn repository(tenant: u32) -> Repository {
    Repository {
        tenant,
        calls: AtomicU64::new(0),
    }
}

#[test]
fn self_is_not_part_of_the_key_unless_asked() {
    install_named("methods", Cache::new(MemoryStore::new()));
    let (a, b) = (repository(1), repository(2));
    assert_eq!(a.name_of(5), "user 5");
    assert_eq!(b.name_of(5), "user 5");
    assert_eq!(
        a.calls.load(Ordering::SeqCst) + b.calls.load(Ordering::SeqCst),
        1
    );

    assert_eq!(a.tenant_scoped(5), "tenant 1 user 5");
    assert_eq!(
        b.tenant_scoped(5),
        "tenant 2 user 5",
        "key = (self.tenant, id)"
    );
    assert_eq!(a.tenant_scoped(5), "tenant 1 user 5");
    assert_eq!(
        a.calls.load(Ordering::SeqCst) + b.calls.load(Ordering::SeqCst),
        3
    );
}

#[tokio::test]
async fn async_methods_are_memoized_and_their_futures_are_send() {
    // A cache of its own: tests run in parallel, and installing replaces.
    install_named("async_methods", Cache::new(MemoryStore::new()));
    fn assert_send<T: Send>(value: T) -> T {
        value
    }
    let repo = repository(3);
    assert_eq!(
        assert_send(repo.name_async(9)).await.as_deref(),
        Some("async user 9")
    );
    assert_eq!(repo.name_async(9).await.as_deref(), Some("async user 9"));
    assert_eq!(repo.calls.load(Ordering::SeqCst), 1);
}

static SKIPPED_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "skips", skip(trace_id))]
fn skips_trace(id: u32, trace_id: u64) -> u32 {
    SKIPPED_CALLS.fetch_add(1, Ordering::SeqCst);
    let _ = trace_id;
    id
}

#[test]
fn skipped_arguments_are_not_part_of_the_key() {
    install_named("skips", Cache::new(MemoryStore::new()));
    assert_eq!(skips_trace(1, 100), 1);
    assert_eq!(skips_trace(1, 200), 1);
    assert_eq!(SKIPPED_CALLS.load(Ordering::SeqCst), 1);
}

static GENERIC_CALLS: AtomicU64 = AtomicU64::new(0);

#[antidogpiled(soft = "1h", cache = "generics")]
fn parse_as<T>(text: String) -> Option<T>
where
    T: std::str::FromStr
        + Clone
        + Send
        + Sync
        + serde::Serialize
        + serde::de::DeserializeOwned
        + 'static,
{
    GENERIC_CALLS.fetch_add(1, Ordering::SeqCst);
    text.parse().ok()
}

#[test]
fn instantiations_of_a_generic_function_do_not_share_values() {
    install_named("generics", Cache::new(MemoryStore::new()));
    assert_eq!(parse_as::<u8>("7".into()), Some(7u8));
    assert_eq!(parse_as::<u64>("7".into()), Some(7u64));
    assert_eq!(parse_as::<u8>("7".into()), Some(7u8));
    assert_eq!(GENERIC_CALLS.load(Ordering::SeqCst), 2);
}
