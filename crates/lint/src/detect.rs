//! Which product a file configures, from its name and its shape, so users
//! can point `wsdoctor lint` at a directory without saying what is in it.

use std::path::Path;

use wsdoctor_evidence::config::ConfigKind;

use crate::{apache, app, caddy, haproxy, kube};

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
    name.ends_with(".conf")
        || name.ends_with(".cfg")
        || name == "nginx.conf"
        || name.ends_with(".yaml")
        || name.ends_with(".yml")
        || name.ends_with(".json")
        || name.ends_with(".tf")
        || name.starts_with("caddyfile")
}

/// Kinds told apart by what a YAML or JSON document says about itself.
fn detect_document(text: &str) -> Option<ConfigKind> {
    if text.contains("AWSTemplateFormatVersion")
        || (text.contains("Resources") && text.contains("AWS::ElasticLoadBalancing"))
    {
        return Some(ConfigKind::Cloudformation);
    }
    if text.contains("static_resources") {
        return Some(ConfigKind::Envoy);
    }
    // Kubernetes objects may embed Envoy config (Istio's EnvoyFilter), so
    // `apiVersion`/`kind` decide before an HTTP connection manager does.
    if kube::looks_like(text) {
        return Some(ConfigKind::Kubernetes);
    }
    if text.contains("http_connection_manager") || text.contains("envoy.config.listener") {
        return Some(ConfigKind::Envoy);
    }
    let json = text.trim_start().starts_with(['{', '[']);
    if json && text.contains("\"Attributes\"") && text.contains("\"Key\"") {
        return Some(ConfigKind::AwsCli);
    }
    if json && (text.contains("compute#backendService") || text.contains("\"timeoutSec\"")) {
        return Some(ConfigKind::Gcloud);
    }
    None
}

/// The kind of a config, or `None` when it looks like neither.
///
/// The name decides when it says `nginx`, `haproxy`, `httpd`/`apache` or
/// ends in `.tf`; YAML and JSON files are told apart by what they contain
/// (`kind:` and `apiVersion:` for Kubernetes, `static_resources` or an HTTP
/// connection manager for Envoy, `AWSTemplateFormatVersion` for
/// CloudFormation, `Attributes` lists for the AWS CLI, `timeoutSec` for
/// gcloud); otherwise the shape does: nginx statements end in `;` or `{`,
/// Apache's are CamelCase directives and `<Section>` lines, HAProxy's are
/// bare lines under section keywords (`frontend`, `backend`, …).
pub(crate) fn detect(path: &Path, text: &str) -> Option<ConfigKind> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if name.contains("haproxy") {
        return Some(ConfigKind::Haproxy);
    }
    let document = [".yaml", ".yml", ".json"]
        .iter()
        .any(|ext| name.ends_with(ext));
    if name.ends_with(".tf") {
        return Some(ConfigKind::Terraform);
    }
    // Only reached for files named on the command line: directory scans
    // never pick up source code (see `is_candidate`).
    if app::is_code(&name) {
        return Some(ConfigKind::Application);
    }
    if document {
        return detect_document(text);
    }
    if name.contains("nginx") {
        return Some(ConfigKind::Nginx);
    }
    if name.contains("httpd") || name.contains("apache") {
        return Some(ConfigKind::Apache);
    }
    if name.starts_with("caddyfile") || name.ends_with(".caddyfile") || caddy::looks_like(text) {
        return Some(ConfigKind::Caddy);
    }
    if let Some(kind) = detect_document(text) {
        return Some(kind);
    }
    let (mut nginx, mut hap, mut httpd) = (0usize, 0usize, 0usize);
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        if line.ends_with(';') || line.ends_with('{') || line == "}" {
            nginx += 1;
        } else if apache::is_directive_line(line) {
            httpd += 1;
        } else if line
            .split_whitespace()
            .next()
            .is_some_and(haproxy::is_section)
        {
            hap += 1;
        }
    }
    if nginx > 0 && nginx >= hap && nginx >= httpd {
        Some(ConfigKind::Nginx)
    } else if httpd > 0 && httpd >= hap {
        Some(ConfigKind::Apache)
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
            (
                "site.conf",
                "<VirtualHost *:80>\n  ProxyPass /ws/ ws://b/\n</VirtualHost>\n",
                Some(ConfigKind::Apache),
            ),
            ("httpd.conf", "", Some(ConfigKind::Apache)),
            ("main.tf", "", Some(ConfigKind::Terraform)),
            (
                "ingress.yaml",
                "apiVersion: networking.k8s.io/v1\nkind: Ingress\n",
                Some(ConfigKind::Kubernetes),
            ),
            (
                "envoy.yaml",
                "static_resources:\n  listeners: []\n",
                Some(ConfigKind::Envoy),
            ),
            (
                "stack.yaml",
                "AWSTemplateFormatVersion: '2010-09-09'\nResources: {}\n",
                Some(ConfigKind::Cloudformation),
            ),
            (
                "attrs.json",
                "{\"Attributes\": [{\"Key\": \"idle_timeout.timeout_seconds\", \"Value\": \"60\"}]}",
                Some(ConfigKind::AwsCli),
            ),
            (
                "be.json",
                "{\"kind\": \"compute#backendService\", \"timeoutSec\": 30}",
                Some(ConfigKind::Gcloud),
            ),
            ("ci.yaml", "jobs:\n  test: {}\n", None),
            ("Caddyfile", "", Some(ConfigKind::Caddy)),
            (
                "ingresses.json",
                "{\n  \"apiVersion\": \"v1\",\n  \"items\": [],\n  \"kind\": \"List\"\n}\n",
                Some(ConfigKind::Kubernetes),
            ),
            ("server.js", "", Some(ConfigKind::Application)),
            ("app.py", "", Some(ConfigKind::Application)),
            (
                "site.conf",
                "example.com {\n\treverse_proxy app:8080\n}\n",
                Some(ConfigKind::Caddy),
            ),
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
            ("ingress.yaml", true),
            ("main.tf", true),
            ("attrs.json", true),
            ("server.js", false),
        ] {
            assert_eq!(is_candidate(Path::new(name)), expected, "{name}");
        }
    }
}
