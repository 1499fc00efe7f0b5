//! Fuzz target: safetensors bytes → relulab checkpoint and PyTorch state_dict readers
//! (`io::checkpoint`, issue 3's). They read from a path, so each input goes through a file in
//! the temporary directory. Never a panic; every error has a message.
#![no_main]

use relulab::io::checkpoint::{is_checkpoint, load_any, load_full, load_state_dict};
use relulab::Activation;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let path =
        relulab_fuzz::tmp_dir().join(format!("relulab_fuzz_{}.safetensors", std::process::id()));
    std::fs::write(&path, data).unwrap();
    let msgs = [
        load_full(&path).err(),
        load_state_dict(&path, Activation::RELU).err(),
        is_checkpoint(&path).err(),
        load_any(&path, None).err(),
    ];
    for e in msgs.into_iter().flatten() {
        assert!(!e.to_string().is_empty());
    }
});
