//! A spawned `keyrelay` process that is killed when the test ends, pass or fail, so a failed
//! assertion never leaves a server holding its port. Included by path (`#[path]`) from tests
//! that need nothing else of `support`.

pub struct Server(pub std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
