//! The config source of wsdoctor (`wsdoctor lint`): reads proxy and
//! load-balancer configuration files and records what they say about
//! WebSocket traffic as [`ConfigEvidence`]. It judges nothing; the rules in
//! `wsdoctor-diagnosis` do.
//!
//! * nginx: a hand-written lexer and parser ([`GRAMMAR-nginx.md`]), `include`
//!   globs resolved against the config root and never outside it, and
//!   nginx's inheritance rules applied per `location`;
//! * HAProxy: sections, `defaults` inheritance, timeouts and connection
//!   options;
//! * Kubernetes manifests (multi-document, `kubectl get -o yaml` Lists):
//!   ingress-nginx and NGINX Inc annotations, the AWS Load Balancer
//!   Controller's ALB/NLB annotations, GKE `BackendConfig`;
//! * Envoy: every HTTP connection manager, its routes and timers;
//! * Terraform (hcl-edit): `aws_lb`, `aws_lb_listener`, `aws_elb`,
//!   `google_compute_backend_service`, `var.x` defaults resolved;
//! * CloudFormation (JSON/YAML), `aws elbv2 describe-…-attributes` and
//!   `gcloud … backend-services` JSON;
//! * Apache httpd: a hand-written lexer, `ProxyPass`/`RewriteRule [P]`,
//!   `upgrade=websocket`, `ProxyTimeout`/`Timeout`;
//! * Caddy: a hand-written Caddyfile lexer, `reverse_proxy` with
//!   `stream_timeout` and `stream_close_delay`;
//! * application code named on the command line (`.py`, `.js`, `.ts`):
//!   Socket.IO `pingInterval` and python-websockets `ping_interval`, the
//!   heartbeat the timers are judged against.
//!
//! YAML and JSON go through serde-saphyr with a budget (alias expansion,
//! depth, node count), so hostile input costs little. Templated files
//! (Helm `{{ … }}`, envsubst `${VAR}`) never fail the run: Helm files are
//! reported and skipped, placeholders are reported as unknown values.
//! [`unified_diff`] turns the rules' edits into a patch for `--fix`.
//!
//! [`GRAMMAR-nginx.md`]: https://example.invalid/wsdoctor/crates/lint/GRAMMAR-nginx.md

mod apache;
mod app;
mod caddy;
mod cloud;
mod detect;
mod doc;
mod envoy;
mod haproxy;
mod ignore;
mod kube;
mod loader;
mod nginx;
mod patch;
mod source;
mod terraform;
mod terraform_vars;
mod units;
mod yaml;

use std::path::{Path, PathBuf};

use wsdoctor_evidence::config::{ConfigEvidence, ConfigKind};

pub use ignore::{ignore_directives, IgnoreDirective};
pub use patch::{replacements, unified_diff, Replacement};

/// What to lint and with which outside facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LintConfig {
    /// Files or directories, as the user named them.
    pub paths: Vec<PathBuf>,
    /// Force the kind of every file (`--kind`); `None` detects it.
    pub kind: Option<ConfigKind>,
    /// The application's heartbeat interval in ms (`--app-ping`).
    pub app_ping_ms: Option<u64>,
    /// Hops outside these files, as kb ids (`--via aws-alb,cloudflare`).
    pub via: Vec<String>,
    /// The nginx version that runs the config (`--nginx-version 1.24.0`).
    pub nginx_version: Option<String>,
}

impl LintConfig {
    /// The config as given when the application's heartbeat, if given, is
    /// above 0.
    pub fn validated(self) -> Result<Self, wsdoctor_evidence::ConfigError> {
        if self.app_ping_ms == Some(0) {
            return Err(wsdoctor_evidence::ConfigError::AboveZero {
                setting: "--app-ping",
            });
        }
        Ok(self)
    }
}

/// Why linting could not run at all (exit status 2). Problems *inside* the
/// files (syntax errors, unreadable includes) are not errors: they are
/// recorded in the evidence next to everything that could be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LintError {
    /// A path the user named cannot be read.
    #[error("cannot read {path}: {reason}")]
    Unreadable {
        /// The path as given.
        path: String,
        /// Why.
        reason: String,
    },
    /// A file whose kind could not be told from its name or contents.
    #[error("cannot tell what {path} configures; say it with --kind (nginx, haproxy, kubernetes, envoy, terraform, cloudformation, aws-cli, gcloud, apache, caddy, application)")]
    UnknownKind {
        /// The path as given.
        path: String,
    },
    /// A directory holding no config file wsdoctor knows.
    #[error("found no config wsdoctor reads in {path} (nginx, HAProxy, Kubernetes, Envoy, Terraform, CloudFormation, AWS/gcloud JSON, Apache, Caddy)")]
    NothingFound {
        /// The path as given.
        path: String,
    },
}

/// How deep to look into a directory the user named.
const MAX_DIR_DEPTH: usize = 6;

/// Reads every path in `config` and returns what the files say.
pub fn load(config: &LintConfig) -> Result<ConfigEvidence, LintError> {
    let mut loader = loader::Loader::default();
    for path in &config.paths {
        load_path(&mut loader, path, config.kind)?;
    }
    let vars = std::mem::take(&mut loader.tf_vars);
    let mut evidence = loader.evidence;
    terraform::finish(vars, &mut evidence);
    kube::finish(&mut evidence);
    evidence.app_ping_ms = config.app_ping_ms;
    evidence.via.clone_from(&config.via);
    evidence.nginx.version.clone_from(&config.nginx_version);
    Ok(evidence)
}

fn unreadable(path: &Path, reason: &dyn std::fmt::Display) -> LintError {
    LintError::Unreadable {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn load_path(
    loader: &mut loader::Loader,
    path: &Path,
    kind: Option<ConfigKind>,
) -> Result<(), LintError> {
    let meta = std::fs::metadata(path).map_err(|e| unreadable(path, &e))?;
    if meta.is_dir() {
        return load_dir(loader, path, kind);
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let root = source::Root::new(&parent).map_err(|e| unreadable(&parent, &e))?;
    let text = source::read_text(path).map_err(|e| unreadable(path, &e))?;
    let kind = kind
        .or_else(|| detect::detect(path, &text))
        .ok_or_else(|| LintError::UnknownKind {
            path: path.display().to_string(),
        })?;
    load_file(loader, &root, path, kind).map_err(|e| unreadable(path, &e))
}

fn load_file(
    loader: &mut loader::Loader,
    root: &source::Root,
    path: &Path,
    kind: ConfigKind,
) -> Result<(), source::ReadError> {
    match kind {
        ConfigKind::Nginx => nginx::load(loader, root, path),
        ConfigKind::Haproxy => haproxy::load(loader, path),
        ConfigKind::Kubernetes => kube::load(loader, path),
        ConfigKind::Envoy => envoy::load(loader, path),
        ConfigKind::Cloudformation => cloud::load_cloudformation(loader, path),
        ConfigKind::AwsCli => cloud::load_aws_cli(loader, path),
        ConfigKind::Gcloud => cloud::load_gcloud(loader, path),
        ConfigKind::Apache => apache::load(loader, path),
        ConfigKind::Caddy => caddy::load(loader, path),
        ConfigKind::Application => app::load(loader, path),
        ConfigKind::Terraform => {
            let mut vars = std::mem::take(&mut loader.tf_vars);
            let read = terraform::load(loader, &mut vars, path);
            loader.tf_vars = vars;
            read
        }
        // A kind the evidence knows but this reader does not parse yet.
        other => Err(source::ReadError::Io(std::io::Error::other(format!(
            "{} configs are not read yet",
            other.kb_id()
        )))),
    }
}

fn load_dir(
    loader: &mut loader::Loader,
    dir: &Path,
    kind: Option<ConfigKind>,
) -> Result<(), LintError> {
    let root = source::Root::new(dir).map_err(|e| unreadable(dir, &e))?;
    let mut candidates = Vec::new();
    collect(dir, 0, &mut candidates);
    // Main nginx files first, so the fragments they include are read in
    // their context (and not a second time on their own).
    let mut found: Vec<(bool, PathBuf, ConfigKind)> = Vec::new();
    for path in candidates {
        let Ok(text) = source::read_text(&path) else {
            continue;
        };
        if let Some(k) = kind.or_else(|| detect::detect(&path, &text)) {
            let main = k == ConfigKind::Nginx && nginx::is_main(&text);
            found.push((!main, path, k));
        }
    }
    if found.is_empty() {
        return Err(LintError::NothingFound {
            path: dir.display().to_string(),
        });
    }
    found.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    for (_, path, k) in found {
        if loader.was_read(&path) {
            continue;
        }
        load_file(loader, &root, &path, k).map_err(|e| unreadable(&path, &e))?;
    }
    Ok(())
}

/// Config-looking files below `dir`, sorted, skipping hidden entries.
fn collect(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            if depth < MAX_DIR_DEPTH {
                collect(&path, depth + 1, out);
            }
        } else if detect::is_candidate(&path) {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod config_tests {
    use super::*;

    #[test]
    fn the_constructor_refuses_a_zero_heartbeat() {
        let with = |ms| LintConfig {
            app_ping_ms: ms,
            ..LintConfig::default()
        };
        assert!(with(None).validated().is_ok());
        assert!(with(Some(1)).validated().is_ok());
        assert_eq!(
            with(Some(0))
                .validated()
                .err()
                .map(|e| e.to_string())
                .as_deref(),
            Some("--app-ping must be more than 0")
        );
    }
}
