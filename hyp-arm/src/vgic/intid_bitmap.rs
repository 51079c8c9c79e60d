//! A set of INTIDs 0-1023 as a bitmap plus a summary of its non-empty words: the vGIC asks
//! "is there any work?" on every exit, and that must be one compare, not a scan of 32 words.
#![forbid(unsafe_code)]

/// The INTIDs a bitmap can hold: 0 to 1023 (SGIs, PPIs, SPIs; no LPIs).
const WORDS: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct IntidBitmap {
    words: [u32; WORDS],
    /// Bit n is set when `words[n]` is not zero.
    non_empty_words: u32,
}

impl IntidBitmap {
    pub const EMPTY: Self = Self {
        words: [0; WORDS],
        non_empty_words: 0,
    };

    /// Adds `intid`; one past 1023 is ignored (no such interrupt).
    pub fn insert(&mut self, intid: u32) {
        let (word, bit) = position(intid);
        if let Some(bits) = self.words.get_mut(word) {
            *bits |= bit;
            self.non_empty_words |= 1 << word;
        }
    }

    pub fn remove(&mut self, intid: u32) {
        let (word, bit) = position(intid);
        if let Some(bits) = self.words.get_mut(word) {
            *bits &= !bit;
            if *bits == 0 {
                self.non_empty_words &= !(1 << word);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.non_empty_words == 0
    }

    /// The INTIDs in the set, lowest first.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        set_bit_indices(self.non_empty_words).flat_map(move |word| {
            set_bit_indices(self.words[word as usize]).map(move |bit| word * 32 + bit)
        })
    }

    /// The INTIDs in word `word` (32 * word to 32 * word + 31) as bits; 0 past the end.
    pub fn word(&self, word: u32) -> u32 {
        self.words.get(word as usize).copied().unwrap_or(0)
    }

    /// Bit n is set when word n holds an INTID.
    pub fn non_empty_words(&self) -> u32 {
        self.non_empty_words
    }

    /// Moves every INTID of `self` into `into`, leaving `self` empty.
    pub fn move_all_into(&mut self, into: &mut Self) {
        for word in set_bit_indices(self.non_empty_words) {
            into.words[word as usize] |= self.words[word as usize];
        }
        into.non_empty_words |= self.non_empty_words;
        *self = Self::EMPTY;
    }
}

fn position(intid: u32) -> (usize, u32) {
    ((intid / 32) as usize, 1 << (intid % 32))
}

/// The indices of the bits set in `bits`, lowest first (the vGIC's bit sets: INTID words, vCPU
/// sets, occupied list registers).
pub(super) fn set_bit_indices(mut bits: u32) -> impl Iterator<Item = u32> {
    core::iter::from_fn(move || {
        (bits != 0).then(|| {
            let bit = bits.trailing_zeros();
            bits &= bits - 1;
            bit
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_and_iterate() {
        let mut set = IntidBitmap::EMPTY;
        assert!(set.is_empty());
        for intid in [1023, 0, 40, 33, 40] {
            set.insert(intid);
        }
        set.insert(1024);
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![0, 33, 40, 1023]);
        assert_eq!(set.non_empty_words(), 1 | 1 << 1 | 1 << 31);
        set.remove(33);
        assert_eq!(set.word(1), 1 << 8);
        set.remove(40);
        assert_eq!(set.non_empty_words(), 1 | 1 << 31, "word 1 now empty");
        set.remove(0);
        set.remove(1023);
        set.remove(5000);
        assert!(set.is_empty());
        assert_eq!(set.word(99), 0);
    }

    #[test]
    fn move_all_into_merges_and_empties() {
        let mut from = IntidBitmap::EMPTY;
        let mut into = IntidBitmap::EMPTY;
        from.insert(27);
        from.insert(90);
        into.insert(91);
        from.move_all_into(&mut into);
        assert!(from.is_empty());
        assert_eq!(into.iter().collect::<Vec<_>>(), vec![27, 90, 91]);
    }
}
