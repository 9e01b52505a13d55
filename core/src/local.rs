//! Local writes: the node's own namespace (`set`, `set_with_ttl`,
//! `delete`) and its departure (`leave`).
//!
//! Every write is checked before anything changes: the key (not empty, not
//! reserved, no NUL, at most 255 bytes), the value's length against
//! [`crate::Engine::max_value_len`] (a value too long for one datagram
//! travels in chunks, module `chunk`; a node held at a protocol version
//! before 6 still needs the entry to fit one datagram at its mtu), and that
//! it fits the store and the node's share ([`crate::room`]). A write takes the node's next version and
//! moves the entry to the tail of its list.

use crate::engine::*;
use crate::memory::Memory;
use crate::room::NoRoom;
use crate::store::EntryStatus;
use crate::time::Instant;
use crate::wire::{self, MAX_KEY_LEN};

impl<M: Memory> Engine<M> {
    /// Sets `key` to `value` in this node's namespace.
    ///
    /// Writing the value (and plain status) a key already has is a no-op and
    /// does not take a version.
    pub fn set(&mut self, key: &str, value: &[u8]) -> Result<(), WriteError> {
        check_user_key(key)?;
        self.write(key, value, EntryStatus::Set, 0)
    }

    /// Sets `key` to `value` until `ttl` has passed from `now`; then
    /// [`Engine::handle_timeout`] deletes it, to the millisecond (the
    /// deadline is one of [`Engine::poll_timeout`]'s). Setting the same value
    /// again only extends the deadline, without a new version.
    pub fn set_with_ttl(
        &mut self,
        key: &str,
        value: &[u8],
        ttl: core::time::Duration,
        now: Instant,
    ) -> Result<(), WriteError> {
        self.note_time(now);
        check_user_key(key)?;
        let deadline = now.saturating_add(ttl).as_millis();
        self.write(key, value, EntryStatus::SetWithTtl, deadline)
    }

    /// Deletes `key`, leaving a tombstone that propagates the deletion and is
    /// collected after `tombstone_grace`. Returns whether the key existed.
    pub fn delete(&mut self, key: &str, now: Instant) -> Result<bool, WriteError> {
        self.note_time(now);
        check_user_key(key)?;
        self.check_key(key, 0)?;
        let Some(idx) = self.store.find(LOCAL, key) else {
            return Ok(false);
        };
        if !self.store.slot(idx).is_some_and(|s| s.status().is_live()) {
            return Ok(false);
        }
        let deadline = now.saturating_add(self.config.tombstone_grace).as_millis();
        self.write(key, &[], EntryStatus::Deleted, deadline)?;
        Ok(true)
    }

    pub(crate) fn check_key(&self, key: &str, value_len: usize) -> Result<(), WriteError> {
        if self.left_at.is_some() {
            return Err(WriteError::Left);
        }
        if key.is_empty() {
            return Err(WriteError::EmptyKey);
        }
        if key.len() > MAX_KEY_LEN {
            return Err(WriteError::KeyTooLong);
        }
        if value_len > self.max_value_len() {
            return Err(WriteError::ValueTooLong);
        }
        // From version 6 a value too long for one datagram goes in chunks;
        // a node held at an older version could never send it.
        if self.config.protocol_version < wire::CHUNKS_VERSION
            && !wire::entry_always_fits(self.config.mtu, key.len(), value_len)
        {
            return Err(WriteError::EntryTooLarge);
        }
        Ok(())
    }

    pub(crate) fn write(
        &mut self,
        key: &str,
        value: &[u8],
        status: EntryStatus,
        deadline: u64,
    ) -> Result<(), WriteError> {
        self.check_key(key, value.len())?;
        let existing = self.store.find(LOCAL, key);
        if let Some(idx) = existing {
            let same = self.store.slot(idx).map(|s| s.status()) == Some(status)
                && self.store.value(idx) == value;
            if same {
                // Same content: a TTL or tombstone deadline may move, the
                // version does not.
                if status == EntryStatus::SetWithTtl {
                    self.store.set_deadline(idx, deadline);
                    self.next_deadline = self.next_deadline.min(deadline);
                }
                return Ok(());
            }
        }
        self.local_write_fits(key, existing, value.len())
            .map_err(|e| match e {
                NoRoom::Store => WriteError::CapacityFull,
                NoRoom::Namespace => WriteError::NamespaceFull,
            })?;
        let local = self.nodes.get_mut(LOCAL).ok_or(WriteError::CapacityFull)?;
        let version = local
            .max_version
            .checked_add(1)
            .filter(|v| *v <= wire::MAX_VERSION)
            .ok_or(WriteError::VersionsExhausted)?;
        let mut list = local.entries;
        let result = match existing {
            Some(idx) => self
                .store
                .update(&mut list, idx, value, version, status, deadline),
            None => self
                .store
                .insert(&mut list, LOCAL, key, value, version, status, deadline)
                .map(|_| ()),
        };
        let local = self.nodes.get_mut(LOCAL).ok_or(WriteError::CapacityFull)?;
        local.entries = list;
        result.map_err(|_| WriteError::CapacityFull)?;
        local.max_version = version;
        local.changed_at = self.now.as_millis() as u32;
        if status != EntryStatus::Set {
            self.next_deadline = self.next_deadline.min(deadline);
        }
        self.note_fresh(LOCAL, version.saturating_sub(1));
        Ok(())
    }

    /// Announces that this node is leaving: peers mark it left at once and
    /// never report it dead. The next gossip round becomes due at once, so
    /// the news spreads without waiting for the schedule; the node keeps
    /// gossiping for `leave_linger` (keep calling
    /// [`Engine::handle_timeout`] at [`Engine::poll_timeout`], which includes
    /// the end of the linger and returns `None` once [`Engine::has_left`]),
    /// then falls silent. Local writes fail from now on.
    pub fn leave(&mut self, now: Instant) -> Result<(), WriteError> {
        self.note_time(now);
        if self.left_at.is_some() {
            return Ok(());
        }
        self.write(STATUS_KEY, LEAVING, EntryStatus::Set, 0)?;
        self.left_at = Some(now);
        // A whole round, at once: every peer the fanout takes.
        self.next_round = self.next_round.min(now);
        self.round_part = 0;
        Ok(())
    }

    /// Whether [`Engine::leave`] was called.
    pub(crate) fn is_leaving(&self) -> bool {
        self.left_at.is_some()
    }

    /// Whether this node has left and finished announcing it.
    pub fn has_left(&self, now: Instant) -> bool {
        self.left_at
            .is_some_and(|at| now >= at.saturating_add(self.config.leave_linger))
    }
}

/// Rejects keys in hearsay's reserved namespace, and keys with a NUL
/// anywhere (which the C API could not tell from their shorter prefix).
fn check_user_key(key: &str) -> Result<(), WriteError> {
    if key.starts_with(RESERVED_KEY_PREFIX) {
        return Err(WriteError::ReservedKey);
    }
    if key.contains('\0') {
        return Err(WriteError::KeyContainsNul);
    }
    Ok(())
}
