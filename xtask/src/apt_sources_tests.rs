//! Tests for apt source parsing and the backports derivation.

use super::*;

const DEB822: &str = "\
Types: deb
# a comment between fields
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
";

#[test]
fn deb822_stanzas_are_parsed() {
    let entries = parse_deb822(DEB822);
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].suites, ["bookworm", "bookworm-updates"]);
    assert_eq!(entries[0].uris, ["http://mirror.example/debian"]);
    assert_eq!(
        entries[0].signed_by.as_deref(),
        Some("/usr/share/keyrings/debian-archive-keyring.gpg")
    );
    assert_eq!(entries[1].signed_by, None);
    assert!(entries.iter().all(|e| e.enabled));
}

#[test]
fn backports_come_from_the_release_mirror_not_security() {
    let plan = backports_source(&parse_deb822(DEB822), "bookworm").unwrap();
    assert_eq!(
        plan,
        Backports::Add {
            stanza: "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm-backports\nComponents: main\n\
                     Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
                .to_string()
        }
    );
}

#[test]
fn one_line_sources_with_options_are_parsed() {
    let text = "# comment\ndeb-src http://src.example/debian bookworm main\n\
                deb [arch=amd64 signed-by=/k.gpg] http://one.example/debian bookworm main contrib # tail\n";
    let entries = parse_one_line(text);
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1].uris, ["http://one.example/debian"]);
    assert_eq!(entries[1].components, ["main", "contrib"]);
    assert_eq!(entries[1].signed_by.as_deref(), Some("/k.gpg"));
    match backports_source(&entries, "bookworm").unwrap() {
        Backports::Add { stanza } => {
            assert!(
                stanza.contains("URIs: http://one.example/debian\n"),
                "{stanza}"
            );
            assert!(stanza.contains("Signed-By: /k.gpg\n"), "{stanza}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn existing_backports_are_detected() {
    let text = "deb http://m.example/debian bookworm main\ndeb http://m.example/debian bookworm-backports main\n";
    assert_eq!(
        backports_source(&parse_one_line(text), "bookworm"),
        Ok(Backports::AlreadyConfigured)
    );
}

#[test]
fn disabled_and_source_only_entries_are_ignored() {
    let text = "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n\n\
                Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\nComponents: main\n";
    assert_eq!(
        backports_source(&parse_deb822(text), "bookworm"),
        Err(SourcesError::NoMirrorForRelease {
            codename: "bookworm".into()
        })
    );
}

#[test]
fn inline_signed_by_keys_keep_their_continuation_lines() {
    let text = "Types: deb\nURIs: http://m.example/debian\nSuites: bookworm\nComponents: main\nSigned-By:\n \
                -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n abc\n -----END PGP PUBLIC KEY BLOCK-----\n";
    let entries = parse_deb822(text);
    let key = entries[0].signed_by.as_deref().unwrap();
    assert!(key.starts_with("\n -----BEGIN"), "{key:?}");
    let Ok(Backports::Add { stanza }) = backports_source(&entries, "bookworm") else {
        panic!()
    };
    assert!(
        stanza.contains("Signed-By: \n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n abc\n"),
        "{stanza}"
    );
    assert_eq!(parse_deb822(&stanza)[0].signed_by, entries[0].signed_by);
}

#[test]
fn codename_is_read_from_os_release() {
    let text =
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n";
    assert_eq!(codename_from_os_release(text).as_deref(), Some("bookworm"));
    assert_eq!(codename_from_os_release("ID=debian\n"), None);
}
