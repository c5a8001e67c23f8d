pub use antidogpile_macros::antidogpiled;
