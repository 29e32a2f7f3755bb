#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Some(run) = wsdoctor_fuzz_targets::target("app_messages") {
        run(data);
    }
});
