#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]
mod common;

#[test]
#[ignore = "prints the rendering, for looking at it"]
fn show() {
    let paths: Vec<String> = std::env::var("SHOW")
        .unwrap_or("nginx/broken".into())
        .split(' ')
        .map(str::to_owned)
        .collect();
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    let (ev, findings) = common::lint(&refs, |c| {
        c.app_ping_ms = std::env::var("PING").ok().map(|p| p.parse().unwrap());
        c.via = std::env::var("VIA")
            .ok()
            .map(|v| v.split(',').map(str::to_owned).collect())
            .unwrap_or_default();
    });
    println!(
        "{}",
        wsdoctor_report::text::lint_view::render_lint(
            &ev,
            &findings,
            wsdoctor_report::Style::PLAIN
        )
    );
    let edits: Vec<_> = findings.iter().flat_map(|f| f.edits.clone()).collect();
    println!("{}", wsdoctor_lint::unified_diff(&ev, &edits));
}
