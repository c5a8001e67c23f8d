use std::future::Future;
use std::pin::Pin;

use antidogpile::antidogpiled;

struct Shop;

// What `#[async_trait]` on the impl makes of `async fn price(&self, sku: u64)
// -> u64` before `#[antidogpiled]` on the method sees it.
impl Shop {
    #[antidogpiled(soft = "1m")]
    fn price<'life0, 'async_trait>(
        &'life0 self,
        sku: u64,
    ) -> Pin<Box<dyn Future<Output = u64> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(async move { sku * 2 })
    }
}

fn main() {}
