//! OSC datagrams: any bytes through the bundle walker, each message it yields through the request
//! decoder, as the OSC thread does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use open_nsynth::osc::{packet, request};

fuzz_target!(|data: &[u8]| {
    if let Ok(messages) = packet::messages(data) {
        for message in &messages {
            let _ = request::decode(message);
        }
    }
});
