//! What every built-in manager offers in the same way: lookups and counters over its
//! [`Core`](super::Core), and the [`Manager`](super::Manager) trait by delegation.

/// For a manager type with `core()`, `inner.endpoint`, and inherent `local_addr`,
/// `running`, `stop`, `shutdown` and `graceful_shutdown`: the lookup and counter
/// methods, and `impl Manager`.
macro_rules! manager_common {
    ($manager:ident, $transport:literal) => {
        impl $manager {
            /// A snapshot of the counters.
            pub fn stats(&self) -> $crate::manager::Stats {
                self.core().stats()
            }

            /// The live connection between `local` and `remote` (with `Bytes` frames).
            pub fn tendril(
                &self,
                local: impl Into<$crate::Addr>,
                remote: impl Into<$crate::Addr>,
            ) -> Option<$crate::Tendril> {
                self.tendril_as(local, remote)
            }

            /// The live connection between `local` and `remote`, if its frames are
            /// `In`/`Out`.
            pub fn tendril_as<In: 'static, Out: 'static>(
                &self,
                local: impl Into<$crate::Addr>,
                remote: impl Into<$crate::Addr>,
            ) -> Option<$crate::Tendril<In, Out>> {
                self.core()
                    .find(&local.into(), &remote.into())?
                    .downcast_ref::<$crate::Tendril<In, Out>>()
                    .cloned()
            }

            /// The (local, remote) addresses of every live connection.
            pub fn connections(&self) -> Vec<($crate::Addr, $crate::Addr)> {
                self.core().connections()
            }
        }

        impl $crate::manager::Manager for $manager {
            fn transport(&self) -> &str {
                $transport
            }

            fn endpoint(&self) -> &$crate::manager::Endpoint {
                &self.inner.endpoint
            }

            fn local_addr(&self) -> Option<std::net::SocketAddr> {
                $manager::local_addr(self)
            }

            fn running(&self) -> bool {
                $manager::running(self)
            }

            fn stop(&self) {
                $manager::stop(self);
            }

            fn shutdown(&self) {
                $manager::shutdown(self);
            }

            fn graceful_shutdown(
                &self,
                deadline: std::time::Duration,
            ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>> {
                Box::pin($manager::graceful_shutdown(self, deadline))
            }

            fn stats(&self) -> $crate::manager::Stats {
                $manager::stats(self)
            }

            fn connection(
                &self,
                local: &$crate::Addr,
                remote: &$crate::Addr,
            ) -> Option<std::sync::Arc<dyn std::any::Any + Send + Sync>> {
                self.core().find(local, remote)
            }

            fn as_any(&self) -> &dyn std::any::Any {
                self
            }
        }
    };
}
pub(crate) use manager_common;
