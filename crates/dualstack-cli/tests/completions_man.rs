//! `dualstack completions` and `dualstack man` through the binary: the scripts and pages
//! cover every subcommand, bash really completes with the script, and groff/man accept
//! the pages without a warning. Every subcommand's `--help` carries an example.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_dualstack");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run dualstack")
}

fn stdout_ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Subcommand names as `dualstack --help` lists them (clap's own `help` left out).
fn subcommands() -> Vec<String> {
    let help = stdout_ok(&["--help"]);
    let list = help
        .split_once("Commands:\n")
        .expect("a Commands: section")
        .1;
    let names: Vec<String> = list
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .filter(|n| n != "help")
        .collect();
    for expected in ["addr", "serve", "connect", "completions", "man"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} in {names:?}"
        );
    }
    names
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn every_subcommand_help_has_an_example() {
    for sub in subcommands() {
        let help = stdout_ok(&[&sub, "--help"]);
        let examples = help
            .split_once("Examples:\n")
            .unwrap_or_else(|| panic!("{sub} --help has no Examples:\n{help}"))
            .1;
        let first = examples.lines().next().unwrap_or_default();
        assert!(
            first.trim_start().starts_with(&format!("dualstack {sub}"))
                || first.contains(&format!("| dualstack {sub}")),
            "{sub}: first example line {first:?}"
        );
    }
}

/// Source the bash script and call its completion function as bash would for
/// `dualstack WORD<TAB>`; returns the candidates.
fn bash_complete(script: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let line = words.join(" ");
    let cword = words.len() - 1;
    let prog = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={cword}\nCOMP_LINE='{line}'\nCOMP_POINT={}\n\
         _dualstack dualstack '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" "),
        line.len(),
        words[cword],
        words[cword - 1],
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &prog])
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completion_offers_every_subcommand_and_shell() {
    if !have("bash") {
        eprintln!("skipped: no bash");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("dualstack.bash");
    std::fs::write(&script, stdout_ok(&["completions", "bash"])).unwrap();
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(syntax.success(), "bash -n rejects the script");

    let subs = subcommands();
    let offered = bash_complete(&script, &["dualstack", ""]);
    for sub in &subs {
        assert!(offered.contains(sub), "{sub} not offered: {offered:?}");
    }
    assert_eq!(
        bash_complete(&script, &["dualstack", "compl"]),
        ["completions"]
    );
    let mut shells = bash_complete(&script, &["dualstack", "completions", ""]);
    shells.retain(|w| !w.starts_with('-'));
    shells.sort();
    assert_eq!(shells, ["bash", "elvish", "fish", "powershell", "zsh"]);
    let serve_opts = bash_complete(&script, &["dualstack", "serve", "--tr"]);
    assert_eq!(serve_opts, ["--trusted-proxy"]);
}

#[test]
fn every_shell_script_names_every_subcommand() {
    let subs = subcommands();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = stdout_ok(&["completions", shell]);
        for sub in &subs {
            assert!(script.contains(sub.as_str()), "{shell} script lacks {sub}");
        }
        // Options come from the same definitions as the parser.
        assert!(
            script.contains("trusted-proxy"),
            "{shell} lacks --trusted-proxy"
        );
    }
    for (shell, check) in [("zsh", "-n"), ("fish", "--no-execute")] {
        if !have(shell) {
            eprintln!("{shell} not installed: syntax check skipped");
            continue;
        }
        let mut child = Command::new(shell)
            .arg(check)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let script = stdout_ok(&["completions", shell]);
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn bad_shell_or_command_is_a_usage_error() {
    assert_eq!(run(&["completions", "tcsh"]).status.code(), Some(2));
    assert_eq!(run(&["completions"]).status.code(), Some(2));
    let out = run(&["man", "nosuch"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("dualstack: ") && err.contains("serve"),
        "{err}"
    );
}

/// groff with every warning on: no output on stderr means the roff is clean.
fn groff_warnings(page: &Path) -> String {
    let out = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(page)
        .output()
        .expect("run groff");
    assert!(out.status.success(), "groff failed on {}", page.display());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn man_pages_parse_and_cover_every_subcommand() {
    let subs = subcommands();
    let main_page = stdout_ok(&["man"]);
    assert!(main_page.contains(".TH dualstack 1"), "{main_page}");
    for sub in &subs {
        assert!(
            main_page.contains(&format!("dualstack\\-{}", sub.replace('-', "\\-"))),
            "main page does not list {sub}"
        );
        let page = stdout_ok(&["man", sub]);
        assert!(page.contains(&format!(".TH dualstack-{sub} 1")), "{sub}");
        assert!(page.contains(".SH EXAMPLES"), "{sub} page has no EXAMPLES");
        assert!(page.is_ascii(), "{sub} page has raw non-ASCII");
    }

    let dir = tempfile::tempdir().unwrap();
    let listed = stdout_ok(&["man", "--out-dir", dir.path().to_str().unwrap()]);
    assert_eq!(listed.lines().count(), subs.len() + 1, "{listed}");
    let main_file = dir.path().join("dualstack.1");
    assert_eq!(std::fs::read_to_string(&main_file).unwrap(), main_page);
    let serve_file = dir.path().join("dualstack-serve.1");
    assert_eq!(
        std::fs::read_to_string(&serve_file).unwrap(),
        stdout_ok(&["man", "serve"])
    );

    if !have("groff") {
        eprintln!("skipped the groff/man checks: groff not installed (.ci/install adds it)");
        return;
    }
    for sub in subs.iter().map(|s| format!("dualstack-{s}.1")) {
        let path = dir.path().join(&sub);
        assert_eq!(groff_warnings(&path), "", "{sub}");
    }
    assert_eq!(groff_warnings(&main_file), "");

    if !have("man") {
        eprintln!("skipped man -l: man not installed");
        return;
    }
    let out = Command::new("man")
        .arg("-l")
        .arg(&serve_file)
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for want in ["NAME", "SYNOPSIS", "OPTIONS", "EXAMPLES", "--trusted-proxy"] {
        assert!(text.contains(want), "man -l output lacks {want}:\n{text}");
    }
    // Example lines stay one per line (no filling).
    assert!(
        text.lines().any(|l| l
            .trim_start()
            .starts_with("dualstack serve --listen-mode dual")),
        "{text}"
    );
}
