//! Pseudo-terminals: the port the fingerprint emulator serves on, and the stand-in serial
//! ports of the scanner and reader tests. One place holds the `openpty` call.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;

/// Both ends of a fresh pty and the path a serial driver opens (`/dev/pts/N`).
pub struct PtyPair {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    pub slave_path: PathBuf,
}

/// Open a pty pair. Keep `master` to feed or read the "device"; drop `slave` once its
/// line settings are made (the path stays valid while the master is open).
pub fn open() -> io::Result<PtyPair> {
    let mut master: libc::c_int = -1;
    let mut slave: libc::c_int = -1;
    // SAFETY: out-pointers to two ints; name, termios and winsize may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openpty succeeded, so both are fresh descriptors we now own.
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: the buffer and its length are valid.
    let rc = unsafe { libc::ptsname_r(master.as_raw_fd(), name.as_mut_ptr(), name.len()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    // SAFETY: ptsname_r wrote a NUL-terminated string into the buffer.
    let slave_path = PathBuf::from(
        unsafe { CStr::from_ptr(name.as_ptr()) }
            .to_string_lossy()
            .into_owned(),
    );
    Ok(PtyPair {
        master,
        slave,
        slave_path,
    })
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    #[test]
    fn bytes_written_to_the_master_arrive_at_the_slave_path() {
        let pair = super::open().expect("pty");
        assert!(
            pair.slave_path.starts_with("/dev/pts"),
            "{:?}",
            pair.slave_path
        );
        let mut reader = std::fs::File::from(pair.slave);
        let mut master = std::fs::File::from(pair.master);
        master.write_all(b"ok\n").expect("write");
        let mut got = [0u8; 3];
        reader.read_exact(&mut got).expect("read");
        assert_eq!(&got, b"ok\n");
    }
}
