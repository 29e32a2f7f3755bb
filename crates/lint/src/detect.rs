//! Which product a file configures, from its name and its shape, so users
//! can point `wsdoctor lint` at a directory without saying what is in it.

use std::path::Path;

use wsdoctor_evidence::config::ConfigKind;

use crate::haproxy;

/// File names worth looking at inside a directory: configs, and templates
/// of configs (`default.conf.template` of the nginx docker image).
pub(crate) fn is_candidate(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let name = name
        .strip_suffix(".template")
        .or_else(|| name.strip_suffix(".tmpl"))
        .or_else(|| name.strip_suffix(".tpl"))
        .unwrap_or(&name);
    name.ends_with(".conf") || name.ends_with(".cfg") || name == "nginx.conf"
}

/// The kind of a config, or `None` when it looks like neither.
///
/// The name decides when it says `nginx` or `haproxy`; otherwise the shape
/// does: nginx statements end in `;` or `{`, HAProxy's are bare lines under
/// section keywords (`frontend`, `backend`, …).
pub(crate) fn detect(path: &Path, text: &str) -> Option<ConfigKind> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if name.contains("haproxy") {
        return Some(ConfigKind::Haproxy);
    }
    if name.contains("nginx") {
        return Some(ConfigKind::Nginx);
    }
    let (mut nginx, mut hap) = (0usize, 0usize);
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        if line.ends_with(';') || line.ends_with('{') || line == "}" {
            nginx += 1;
        } else if line
            .split_whitespace()
            .next()
            .is_some_and(haproxy::is_section)
        {
            hap += 1;
        }
    }
    if nginx > 0 && nginx >= hap {
        Some(ConfigKind::Nginx)
    } else if hap > 0 {
        Some(ConfigKind::Haproxy)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let table = [
            ("nginx.conf", "", Some(ConfigKind::Nginx)),
            ("haproxy.cfg", "", Some(ConfigKind::Haproxy)),
            (
                "app.conf",
                "server {\n listen 80;\n}\n",
                Some(ConfigKind::Nginx),
            ),
            (
                "lb.cfg",
                "frontend fe\n  bind :80\nbackend be\n",
                Some(ConfigKind::Haproxy),
            ),
            ("x.conf", "# nothing\n", None),
            ("x.conf", "key=value\n", None),
        ];
        for (name, text, expected) in table {
            assert_eq!(detect(Path::new(name), text), expected, "{name}");
        }
    }

    #[test]
    fn candidates() {
        for (name, expected) in [
            ("default.conf", true),
            ("default.conf.template", true),
            ("haproxy.cfg", true),
            ("README.md", false),
            ("mime.types", false),
        ] {
            assert_eq!(is_candidate(Path::new(name)), expected, "{name}");
        }
    }
}
