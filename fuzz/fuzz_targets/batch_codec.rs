//! The EventBatch codec: decoding never panics, and a decoded batch encodes into bytes that
//! decode to the same batch, whose encoding is stable.
#![no_main]

use ember_core::domain::EventBatch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(batch) = EventBatch::decode(data) else {
        return;
    };
    let bytes = batch.encode().expect("a decoded batch encodes");
    let again = EventBatch::decode(&bytes).expect("an encoded batch decodes");
    assert_eq!(again, batch, "decode(encode(decode(x))) == decode(x)");
    assert_eq!(
        again.encode().expect("encodes"),
        bytes,
        "the encoding is stable"
    );
});
