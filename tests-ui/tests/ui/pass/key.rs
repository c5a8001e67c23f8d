use std::sync::atomic::{AtomicUsize, Ordering};

use antidogpile::antidogpiled;

static RUNS: AtomicUsize = AtomicUsize::new(0);

struct Request {
    path: String,
    trace_id: u64,
}

impl Request {
    #[antidogpiled(soft = "10s", key = (self.path.as_str(), page / 10))]
    fn render(&self, page: u32) -> Result<String, String> {
        RUNS.fetch_add(1, Ordering::SeqCst);
        Ok(format!("{} page group {}", self.path, page / 10))
    }
}

fn main() {
    let one = Request {
        path: "/a".to_owned(),
        trace_id: 1,
    };
    let two = Request {
        path: "/a".to_owned(),
        trace_id: 2,
    };
    assert_eq!(one.render(11).unwrap(), "/a page group 1");
    assert_eq!(two.render(19).unwrap(), "/a page group 1");
    assert_eq!(RUNS.load(Ordering::SeqCst), 1);
    assert_ne!(one.trace_id, two.trace_id);
}
