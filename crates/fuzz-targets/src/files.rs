//! Files people hand to wsdoctor: HAR captures (`logs`), nginx configs that
//! include each other (`lint`), and `load --json` reports (`merge`).

use std::path::PathBuf;
use std::sync::OnceLock;

use arbitrary::Unstructured;
use serde_json::Value;
use wsdoctor_evidence::config::ConfigKind;
use wsdoctor_evidence::load::{LoadEvidence, ShardSpec};
use wsdoctor_evidence::logs::LogFormat;
use wsdoctor_lint::LintConfig;
use wsdoctor_logs::{read_logs, Input, LogsConfig};
use wsdoctor_sources::load::{merge, ShardResult};

/// A directory for the whole run; each input overwrites its files.
fn scratch() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
}

/// A HAR file read by `logs`: read or refused with an error, every entry
/// accounted for, and the log rules run on what was read.
pub(crate) fn har(data: &[u8]) {
    let path = scratch().path().join("capture.har");
    std::fs::write(&path, data).expect("the scratch file is writable");
    let mut config = LogsConfig::new(vec![Input::Path(path)]);
    config.format = Some(LogFormat::Har);
    let Ok(evidence) = read_logs(&config) else {
        return;
    };
    for file in &evidence.files {
        assert!(
            file.malformed <= file.lines,
            "more malformed entries than entries"
        );
    }
    let _ = wsdoctor_diagnosis::rules::logs::diagnose_logs(&evidence);
}

/// Names the generated configs use: the main file, globbed directories,
/// and files that include each other.
const FILES: &[&str] = &[
    "nginx.conf",
    "conf.d/a.conf",
    "conf.d/b.conf",
    "sites/ws.conf",
    "snippets/proxy.conf",
    "deep/x/y/z.conf",
];

/// Pieces of nginx configs that steer include resolution: globs, cycles,
/// paths leaving the root, includes inside blocks.
const PIECES: &[&str] = &[
    "include conf.d/*.conf;\n",
    "include sites/*;\n",
    "include snippets/proxy.conf;\n",
    "include nginx.conf;\n",
    "include conf.d/a.conf;\n",
    "include ../../../etc/passwd;\n",
    "include /etc/nginx/mime.types;\n",
    "include */*.conf;\n",
    "include **;\n",
    "include deep/*/*/*.conf;\n",
    "include $var.conf;\n",
    "include;\n",
    "http {\n",
    "server {\n",
    "location /ws {\n",
    "}\n",
    "proxy_pass http://backend;\n",
    "proxy_read_timeout 1h;\n",
    "proxy_set_header Upgrade $http_upgrade;\n",
    "\"",
    "#",
    "{",
];

/// A tree of nginx files including each other, read by `lint`: it ends
/// (cycles and depth are cut), stays inside the directory, and never
/// panics.
pub(crate) fn lint_include(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let count = u.int_in_range(1..=FILES.len()).unwrap_or(1);
    for i in 0..count {
        let name = if i == 0 {
            FILES[0]
        } else {
            FILES[u.choose_index(FILES.len()).unwrap_or(0)]
        };
        let mut text = String::new();
        for _ in 0..u.int_in_range(0..=24u8).unwrap_or(0) {
            if u.ratio(1, 6).unwrap_or(false) {
                text.push_str(&u.arbitrary::<String>().unwrap_or_default());
            } else {
                text.push_str(PIECES[u.choose_index(PIECES.len()).unwrap_or(0)]);
            }
        }
        let path = dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("the scratch tree is writable");
        }
        std::fs::write(&path, text).expect("the scratch tree is writable");
    }
    for paths in [
        vec![dir.path().join(FILES[0])],
        vec![dir.path().to_path_buf()],
    ] {
        let config = LintConfig {
            paths,
            kind: Some(ConfigKind::Nginx),
            app_ping_ms: None,
            via: Vec::new(),
            nginx_version: None,
        };
        if let Ok(evidence) = wsdoctor_lint::load(&config) {
            let shown = serde_json::to_string(&evidence).expect("evidence serializes");
            assert!(
                !shown.contains("root:x:0:0"),
                "lint read a file outside its root"
            );
        }
    }
}

/// A `load --json` report, or its `observations.load`, as `merge` reads
/// it: merged alone and with a copy of itself as the other shard.
pub(crate) fn load_merge(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let load = value
        .get("observations")
        .and_then(|o| o.get("load"))
        .unwrap_or(&value);
    let Ok(evidence) = serde_json::from_value::<LoadEvidence>(load.clone()) else {
        return;
    };
    merge_with_itself(evidence);
}

fn merge_with_itself(evidence: LoadEvidence) {
    let one = ShardResult {
        label: "a.json".to_owned(),
        evidence: evidence.clone(),
    };
    let _ = merge(std::slice::from_ref(&one), true);
    let mut other = evidence;
    other.shard = Some(match other.shard {
        Some(s) => ShardSpec {
            index: s.index.wrapping_add(1) % s.count.max(1),
            count: s.count,
        },
        None => ShardSpec { index: 1, count: 2 },
    });
    let two = ShardResult {
        label: "b.json".to_owned(),
        evidence: other,
    };
    let _ = merge(&[one.clone(), two.clone()], true);
    let _ = merge(&[one, two], false);
}

/// A real two-step `load` result (what `load --json` wrote), whose
/// histograms the `load_histogram` target replaces.
fn base_evidence() -> LoadEvidence {
    static BASE: OnceLock<LoadEvidence> = OnceLock::new();
    BASE.get_or_init(|| {
        let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "load_base.json"]
            .iter()
            .collect();
        let bytes = std::fs::read(&path).expect("load_base.json is committed");
        serde_json::from_slice(&bytes).expect("load_base.json is a load result")
    })
    .clone()
}

/// Histogram bytes (an HdrHistogram V2 serialization, base64 in the
/// report) in a shard's latencies: `merge` adds them up or refuses them.
pub(crate) fn load_histogram(data: &[u8]) {
    use base64::Engine as _;
    let mut evidence = base_evidence();
    let encoded = base64::engine::general_purpose::STANDARD.encode(data);
    for step in &mut evidence.steps {
        step.handshake.histogram = Some(encoded.clone());
        step.echo_rtt.histogram = Some(encoded.clone());
    }
    merge_with_itself(evidence);
}
