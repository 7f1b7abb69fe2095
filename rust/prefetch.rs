//! A hint to the processor that memory will be read soon.
//!
//! A batch call (a round's declines) knows every record it will touch before
//! it touches any: asking for the records a few items ahead overlaps their
//! cache misses instead of waiting on each in turn. Only a hint: it never
//! faults and changes no result.

/// Starts loading the cache line holding `value`.
#[inline(always)]
pub fn prefetch<T: ?Sized>(value: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing into the program and cannot fault,
    // whatever the address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(value.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
