pub(crate) mod codec;
