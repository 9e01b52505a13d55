//! The node's current id, shared by its handles and its engine thread.
//!
//! A node's id is fixed at start but for one case: when it hears of itself
//! as something it is not (a restart whose clock is behind, a forged
//! generation), the engine takes a new generation (self-refutation). The
//! engine thread then updates this copy, so [`crate::Node::id`] answers
//! without a round trip to the engine thread.

use std::sync::{PoisonError, RwLock};

use hearsay_core::NodeId;

/// The id the engine currently gossips under.
#[derive(Debug)]
pub(crate) struct Identity(RwLock<NodeId>);

impl Identity {
    pub(crate) fn new(id: NodeId) -> Self {
        Identity(RwLock::new(id))
    }

    /// The current id.
    pub(crate) fn get(&self) -> NodeId {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records `id` if it differs; returns whether it did.
    pub(crate) fn update(&self, id: &NodeId) -> bool {
        let mut held = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if *held == *id {
            return false;
        }
        *held = id.clone();
        true
    }
}
