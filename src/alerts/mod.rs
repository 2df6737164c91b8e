//! Where alerts go and when: the channels (each with its config section, pure payload and
//! send) and `sync_grace` settling. The lifecycle they follow is
//! [`crate::core::alert_lifecycle`] (pure, also what the store keeps); delivering is
//! [`crate::app::deliver`], which reads the config and the store, both of which sit below the
//! channels (config assembles each channel's section), so it cannot live here without a circle.

pub mod channels;
pub mod settle;
