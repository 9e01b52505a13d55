//! Where an engine's tables live: the [`Memory`] kinds.
//!
//! An engine's tables (see [`crate::capacity`]) are slices of fixed length,
//! each a [`Memory::Buf`]. Where they live is the caller's choice,
//! smoltcp-style:
//!
//! - [`Borrowed`]: lent by the caller for a lifetime, from a static
//!   [`crate::capacity::Storage`] (`no_std`, no allocator);
//! - `Heap` (feature `alloc`, which hearsay-std turns on): boxed slices the
//!   engine owns, made once at run time ([`Allocate`]).

use core::marker::PhantomData;

/// Where an engine's tables live: each table is a `Buf<T>`, a slice of
/// fixed length that the engine reads and writes but never resizes.
///
/// Implemented by [`Borrowed`] (slices lent from a [`crate::capacity::Storage`]) and, with
/// the `alloc` feature, by `Heap` (boxed slices the engine owns).
pub trait Memory {
    /// One table of `T`s.
    type Buf<T: 'static>: AsRef<[T]> + AsMut<[T]>;
}

/// A [`Memory`] that can make tables of any length at run time, for
/// [`crate::capacity::Buffers::allocate`].
pub trait Allocate: Memory {
    /// A table of `len` copies of `fill`; `None` when the memory is not
    /// there.
    fn allocate<T: Clone + 'static>(len: usize, fill: T) -> Option<Self::Buf<T>>;
}

/// Memory lent to the engine for `'a`: tables are `&'a mut [T]`, from a
/// [`crate::capacity::Storage`] the caller owns.
pub struct Borrowed<'a>(PhantomData<&'a mut ()>);

impl<'a> Memory for Borrowed<'a> {
    type Buf<T: 'static> = &'a mut [T];
}

/// Memory on the heap, owned by the engine: tables are `Box<[T]>`, made
/// once by [`crate::capacity::Buffers::allocate`] and never resized (feature `alloc`).
#[cfg(any(feature = "alloc", test))]
pub struct Heap;

#[cfg(any(feature = "alloc", test))]
impl Memory for Heap {
    type Buf<T: 'static> = alloc::boxed::Box<[T]>;
}

#[cfg(any(feature = "alloc", test))]
impl Allocate for Heap {
    fn allocate<T: Clone + 'static>(len: usize, fill: T) -> Option<alloc::boxed::Box<[T]>> {
        let mut v = alloc::vec::Vec::new();
        v.try_reserve_exact(len).ok()?;
        v.resize(len, fill);
        Some(v.into_boxed_slice())
    }
}
