//! Unit tests of the node image's inputs and generated files.

use super::*;

#[test]
fn mirror_from_deb822_and_one_line_sources() {
    let deb822 = "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\n";
    assert_eq!(
        mirror_from_sources(deb822).as_deref(),
        Some("http://deb.debian.org/debian")
    );
    let one_line = "deb http://security.debian.org/debian-security bookworm-security main\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main\n";
    assert_eq!(
        mirror_from_sources(one_line).as_deref(),
        Some("http://mirror.example/debian")
    );
    assert_eq!(mirror_from_sources("# nothing\n"), None);
}

#[test]
fn ldd_output_gives_the_resolved_paths() {
    let ldd = "/usr/sbin/xtables-nft-multi:\n\tlinux-vdso.so.1 (0x00007ffd)\n\tlibxtables.so.12 => /lib/x86_64-linux-gnu/libxtables.so.12 (0x7f)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x7f)\n\t/lib64/ld-linux-x86-64.so.2 (0x7f)\n";
    assert_eq!(
        shared_libraries(ldd),
        [
            "/lib/x86_64-linux-gnu/libxtables.so.12",
            "/lib/x86_64-linux-gnu/libc.so.6",
            "/lib64/ld-linux-x86-64.so.2"
        ]
    );
    assert_eq!(
        merged_usr("/lib64/ld-linux-x86-64.so.2"),
        "/usr/lib64/ld-linux-x86-64.so.2"
    );
    assert_eq!(merged_usr("/usr/sbin/x"), "/usr/sbin/x");
}
