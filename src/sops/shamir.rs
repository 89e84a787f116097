//! Shamir secret sharing over GF(2^8), compatible with SOPS key groups.
//!
//! When a SOPS file has more than one key group, the 32-byte data key is not
//! encrypted to every master key directly. Instead SOPS splits it into one
//! share per key group, and each group's master keys encrypt only that
//! group's share. Any `shamir_threshold` groups can then rebuild the data key.
//! SOPS does the splitting with the implementation it vendored from
//! HashiCorp Vault (`shamir/shamir.go`), so to read and write such files
//! keyroll has to produce and accept byte-for-byte the same share format:
//!
//! * Arithmetic is in GF(2^8) reduced by the AES (Rijndael) polynomial
//!   x^8 + x^4 + x^3 + x + 1 (`0x11B`); addition is XOR.
//! * Every byte of the secret gets its own random polynomial whose constant
//!   term is that byte and whose other `threshold - 1` coefficients are
//!   uniformly random.
//! * A share is the polynomials' values at one x-coordinate, in secret-byte
//!   order, followed by ONE trailing byte holding that x-coordinate:
//!   `[y_0, y_1, ..., y_{n-1}, x]`. It is therefore one byte longer than the
//!   secret.
//! * [`split`] uses x = 1, 2, ..., `parts` (as SOPS does). x = 0 is never
//!   handed out, because the value there is the secret itself.
//! * [`combine`] evaluates the Lagrange interpolation polynomial at x = 0. It
//!   accepts any set of distinct x-coordinates, so shares made by Vault
//!   versions that pick x-coordinates at random combine as well.
//!
//! Field multiplication and inversion are branch-free and table-free, so
//! their timing does not depend on the secret bytes. Share counts, lengths
//! and x-coordinates are public and may influence control flow.

use zeroize::Zeroizing;

/// The largest number of shares [`split`] can produce: x-coordinates are
/// single non-zero bytes.
const MAX_PARTS: usize = 255;

/// Errors returned by [`split`] and [`combine`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShamirError {
    /// `split` was asked for a threshold below two.
    #[error("Shamir threshold must be at least 2, got {threshold}")]
    ThresholdTooSmall {
        /// The requested threshold.
        threshold: usize,
    },
    /// `split` was asked for fewer shares than the threshold.
    #[error("number of Shamir shares ({parts}) cannot be less than the threshold ({threshold})")]
    PartsLessThanThreshold {
        /// The requested number of shares.
        parts: usize,
        /// The requested threshold.
        threshold: usize,
    },
    /// `split` was asked for more shares than there are non-zero x-coordinates.
    #[error("number of Shamir shares cannot exceed {MAX_PARTS}, got {parts}")]
    TooManyParts {
        /// The requested number of shares.
        parts: usize,
    },
    /// `split` was given an empty secret.
    #[error("cannot split an empty secret")]
    EmptySecret,
    /// `combine` was given fewer than two shares.
    #[error("at least 2 Shamir shares are needed to recover the secret, got {count}")]
    TooFewShares {
        /// How many shares were given.
        count: usize,
    },
    /// A share has no secret bytes (it must hold at least one y-value and the x-coordinate).
    #[error("Shamir shares must be at least 2 bytes long, got {len}")]
    ShareTooShort {
        /// Length of the first share.
        len: usize,
    },
    /// The shares do not all have the same length.
    #[error("Shamir share {index} is {found} bytes long but share 0 is {expected} bytes long")]
    ShareLengthMismatch {
        /// Position of the offending share in the input.
        index: usize,
        /// Length of the first share.
        expected: usize,
        /// Length of the offending share.
        found: usize,
    },
    /// Two shares carry the same x-coordinate.
    #[error("duplicate Shamir share: x-coordinate {x} appears more than once")]
    DuplicateShare {
        /// The repeated x-coordinate.
        x: u8,
    },
    /// The operating system's random number generator failed.
    #[error("could not read randomness from the operating system: {0}")]
    Randomness(getrandom::Error),
}

/// Multiplies two elements of GF(2^8) modulo x^8 + x^4 + x^3 + x + 1.
///
/// Shift-and-add over the bits of `b`, using masks instead of branches.
fn gf_mul(a: u8, b: u8) -> u8 {
    let mut a = a;
    let mut b = b;
    let mut product = 0u8;
    for _ in 0..8 {
        // Add `a` when the low bit of `b` is set (mask is 0x00 or 0xFF).
        product ^= a & (b & 1).wrapping_neg();
        // a *= x, folding x^8 back in as x^4 + x^3 + x + 1 (0x1B).
        let overflow = (a >> 7).wrapping_neg();
        a = (a << 1) ^ (overflow & 0x1B);
        b >>= 1;
    }
    product
}

/// Multiplicative inverse in GF(2^8), computed as `a^254` (the group of
/// non-zero elements has order 255). Maps 0 to 0.
fn gf_inv(a: u8) -> u8 {
    // 254 = 2 + 4 + 8 + ... + 128, so multiply together a^(2^k) for k = 1..=7.
    let mut power = a;
    let mut result = 1u8;
    for _ in 1..8 {
        power = gf_mul(power, power);
        result = gf_mul(result, power);
    }
    result
}

/// Evaluates `intercept + c_1 x + c_2 x^2 + ...` at `x` with Horner's rule,
/// where `higher` holds `c_1, c_2, ...`.
fn eval_poly(intercept: u8, higher: &[u8], x: u8) -> u8 {
    let acc = higher
        .iter()
        .rev()
        .fold(0u8, |acc, &coefficient| gf_mul(acc, x) ^ coefficient);
    gf_mul(acc, x) ^ intercept
}

/// Splits `secret` into `parts` shares, any `threshold` of which recover it.
///
/// Each share is `secret.len() + 1` bytes: one y-value per secret byte
/// followed by the share's x-coordinate. Share `i` (0-based) has
/// x-coordinate `i + 1`, matching SOPS. Random coefficients come from the
/// operating system's CSPRNG and are wiped before returning.
///
/// # Errors
///
/// Fails if `threshold < 2`, `parts < threshold`, `parts > 255`, the secret
/// is empty, or the operating system's random number generator fails.
pub fn split(
    secret: &[u8],
    parts: usize,
    threshold: usize,
) -> Result<Vec<Zeroizing<Vec<u8>>>, ShamirError> {
    split_with(secret, parts, threshold, |buf| {
        getrandom::getrandom(buf).map_err(ShamirError::Randomness)
    })
}

/// [`split`] with the source of random coefficients supplied by the caller,
/// so tests can fix the polynomial.
fn split_with(
    secret: &[u8],
    parts: usize,
    threshold: usize,
    fill_random: impl FnOnce(&mut [u8]) -> Result<(), ShamirError>,
) -> Result<Vec<Zeroizing<Vec<u8>>>, ShamirError> {
    if parts < threshold {
        return Err(ShamirError::PartsLessThanThreshold { parts, threshold });
    }
    if parts > MAX_PARTS {
        return Err(ShamirError::TooManyParts { parts });
    }
    if threshold < 2 {
        return Err(ShamirError::ThresholdTooSmall { threshold });
    }
    if secret.is_empty() {
        return Err(ShamirError::EmptySecret);
    }

    // Coefficients c_1..c_{t-1} for every secret byte, stored byte after byte.
    let degree = threshold - 1;
    let mut coefficients = Zeroizing::new(vec![0u8; secret.len() * degree]);
    fill_random(coefficients.as_mut_slice())?;

    let mut shares = Vec::with_capacity(parts);
    for x in (1..=u8::MAX).take(parts) {
        let mut share = Zeroizing::new(Vec::with_capacity(secret.len() + 1));
        share.extend(
            secret
                .iter()
                .zip(coefficients.chunks_exact(degree))
                .map(|(&byte, higher)| eval_poly(byte, higher, x)),
        );
        share.push(x);
        shares.push(share);
    }
    Ok(shares)
}

/// Recovers the secret from `threshold` or more shares (each share = y bytes + trailing x byte).
///
/// All shares must have the same length (at least 2 bytes) and distinct
/// x-coordinates. Passing fewer shares than the threshold used by [`split`]
/// is not detectable: it yields unrelated bytes, not an error.
///
/// # Errors
///
/// Fails if fewer than two shares are given, a share is shorter than two
/// bytes, the shares differ in length, or two shares share an x-coordinate.
pub fn combine(shares: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>, ShamirError> {
    let Some((first, _)) = shares.split_first() else {
        return Err(ShamirError::TooFewShares { count: 0 });
    };
    if shares.len() < 2 {
        return Err(ShamirError::TooFewShares {
            count: shares.len(),
        });
    }
    let share_len = first.len();
    if share_len < 2 {
        return Err(ShamirError::ShareTooShort { len: share_len });
    }

    // Separate each share into its y-values and x-coordinate, checking
    // lengths and rejecting repeated x-coordinates.
    let mut seen = [false; 256];
    let mut points: Vec<(u8, &[u8])> = Vec::with_capacity(shares.len());
    for (index, share) in shares.iter().enumerate() {
        if share.len() != share_len {
            return Err(ShamirError::ShareLengthMismatch {
                index,
                expected: share_len,
                found: share.len(),
            });
        }
        let Some((&x, ys)) = share.split_last() else {
            return Err(ShamirError::ShareTooShort { len: share.len() });
        };
        if let Some(slot) = seen.get_mut(usize::from(x)) {
            if *slot {
                return Err(ShamirError::DuplicateShare { x });
            }
            *slot = true;
        }
        points.push((x, ys));
    }

    // Lagrange basis at zero: l_i(0) = prod_{j != i} x_j / (x_i - x_j).
    // These depend only on the public x-coordinates, so compute them once.
    let weights: Vec<u8> = points
        .iter()
        .enumerate()
        .map(|(i, &(xi, _))| {
            let (numerator, denominator) = points
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .fold((1u8, 1u8), |(num, den), (_, &(xj, _))| {
                    (gf_mul(num, xj), gf_mul(den, xi ^ xj))
                });
            gf_mul(numerator, gf_inv(denominator))
        })
        .collect();

    // secret[k] = sum_i y_i[k] * l_i(0)
    let mut secret = Zeroizing::new(vec![0u8; share_len - 1]);
    for (&(_, ys), &weight) in points.iter().zip(&weights) {
        for (out, &y) in secret.iter_mut().zip(ys) {
            *out ^= gf_mul(y, weight);
        }
    }
    Ok(secret)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        assert!(s.len().is_multiple_of(2));
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn refs(shares: &[Zeroizing<Vec<u8>>]) -> Vec<&[u8]> {
        shares.iter().map(|s| s.as_slice()).collect()
    }

    /// Every `k`-element subset of `0..n`, as index lists.
    fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
        fn go(start: usize, n: usize, k: usize, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
            if cur.len() == k {
                out.push(cur.clone());
                return;
            }
            for i in start..n {
                cur.push(i);
                go(i + 1, n, k, cur, out);
                cur.pop();
            }
        }
        let mut out = Vec::new();
        go(0, n, k, &mut Vec::new(), &mut out);
        out
    }

    /// Slow reference multiplication: carry-less product, then reduce by 0x11B.
    fn slow_mul(a: u8, b: u8) -> u8 {
        let mut wide = 0u16;
        for bit in 0..8 {
            if (b >> bit) & 1 == 1 {
                wide ^= u16::from(a) << bit;
            }
        }
        for bit in (8..16).rev() {
            if (wide >> bit) & 1 == 1 {
                wide ^= 0x11B << (bit - 8);
            }
        }
        u8::try_from(wide).unwrap()
    }

    #[test]
    fn field_known_products() {
        // FIPS-197 (AES) section 4.2 examples.
        assert_eq!(gf_mul(0x57, 0x83), 0xC1);
        assert_eq!(gf_mul(0x57, 0x13), 0xFE);
        assert_eq!(gf_mul(0x57, 0x02), 0xAE);
        assert_eq!(gf_mul(0x57, 0x04), 0x47);
        assert_eq!(gf_mul(0x57, 0x08), 0x8E);
        assert_eq!(gf_mul(0x57, 0x10), 0x07);
        // Same products as Vault's field tests.
        assert_eq!(gf_mul(3, 7), 9);
        assert_eq!(gf_mul(3, 0), 0);
        assert_eq!(gf_mul(0, 3), 0);
        assert_eq!(gf_mul(gf_inv(3), 6), 2);
        // FIPS-197 section 5.1.1: the inverse of 0x53 is 0xCA.
        assert_eq!(gf_inv(0x53), 0xCA);
        assert_eq!(gf_inv(0), 0);
        assert_eq!(gf_inv(1), 1);
    }

    #[test]
    fn field_exhaustive() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let p = gf_mul(a, b);
                assert_eq!(p, slow_mul(a, b), "{a:#04x} * {b:#04x}");
                assert_eq!(p, gf_mul(b, a));
                if b != 0 {
                    assert_eq!(gf_mul(p, gf_inv(b)), a);
                }
            }
            if a != 0 {
                assert_eq!(gf_mul(a, gf_inv(a)), 1);
            }
        }
    }

    #[test]
    fn round_trip_all_subsets() {
        let secret: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(37) ^ 0xA5).collect();
        for (parts, threshold) in [(2, 2), (3, 2), (3, 3), (5, 3), (6, 4), (7, 7)] {
            let shares = split(&secret, parts, threshold).unwrap();
            assert_eq!(shares.len(), parts);
            for (i, share) in shares.iter().enumerate() {
                assert_eq!(share.len(), secret.len() + 1);
                assert_eq!(usize::from(*share.last().unwrap()), i + 1);
            }
            let all = refs(&shares);
            assert_eq!(*combine(&all).unwrap(), secret);
            for size in threshold..=parts {
                for subset in subsets(parts, size) {
                    // Order must not matter either.
                    for order in [subset.clone(), subset.iter().rev().copied().collect()] {
                        let picked: Vec<&[u8]> = order.iter().map(|&i| all[i]).collect();
                        assert_eq!(
                            *combine(&picked).unwrap(),
                            secret,
                            "parts={parts} threshold={threshold} subset={order:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn round_trip_edge_sizes() {
        let one = [0x00u8];
        let shares = split(&one, 2, 2).unwrap();
        assert_eq!(*combine(&refs(&shares)).unwrap(), one);

        let secret = [0xFFu8; 32];
        let shares = split(&secret, 255, 255).unwrap();
        assert_eq!(shares.last().unwrap().last(), Some(&255));
        assert_eq!(*combine(&refs(&shares)).unwrap(), secret);

        let shares = split(&secret, 255, 2).unwrap();
        let all = refs(&shares);
        assert_eq!(*combine(&[all[17], all[254]]).unwrap(), secret);
    }

    #[test]
    fn fewer_than_threshold_shares_do_not_reveal_secret() {
        let secret: Vec<u8> = (1..=32u8).collect();
        for (parts, threshold) in [(3, 3), (5, 3), (6, 4)] {
            let shares = split(&secret, parts, threshold).unwrap();
            let all = refs(&shares);
            for size in 2..threshold {
                for subset in subsets(parts, size) {
                    let picked: Vec<&[u8]> = subset.iter().map(|&i| all[i]).collect();
                    // With random coefficients, a wrong interpolation matches all
                    // 32 bytes with probability 2^-256.
                    assert_ne!(*combine(&picked).unwrap(), secret);
                }
            }
        }
    }

    #[test]
    fn shares_are_randomised() {
        let secret = [7u8; 32];
        let a = split(&secret, 3, 2).unwrap();
        let b = split(&secret, 3, 2).unwrap();
        assert_ne!(a, b);
    }

    /// Hand-computed vectors with fixed coefficients.
    ///
    /// threshold 2: f(x) = 0x2A + 0x07 x. 0x07*1 = 0x07, 0x07*2 = 0x0E,
    /// 0x07*3 = 0x07 ^ 0x0E = 0x09 (no reduction needed), so the shares are
    /// 0x2A^0x07 = 0x2D, 0x2A^0x0E = 0x24, 0x2A^0x09 = 0x23.
    ///
    /// threshold 3: f(x) = 0x53 + 0x57 x + 0x83 x^2.
    ///   x=1: 0x53 ^ 0x57 ^ 0x83 = 0x87
    ///   x=2: x^2 = 4; 0x57*2 = 0xAE; 0x83*2 = 0x106 ^ 0x11B = 0x1D, *2 = 0x3A;
    ///        0x53 ^ 0xAE ^ 0x3A = 0xC7
    ///   x=3: x^2 = 3*3 = 5; 0x57*3 = 0x57 ^ 0xAE = 0xF9;
    ///        0x83*5 = 0x83 ^ 0x3A = 0xB9; 0x53 ^ 0xF9 ^ 0xB9 = 0x13
    ///   x=4: x^2 = 0x10; 0x57*4 = 0x47; 0x83*0x10 = 0xE8 (shift and reduce);
    ///        0x53 ^ 0x47 ^ 0xE8 = 0xFC
    /// (cross-checked with an independent Python model of the field).
    #[test]
    fn known_answer_fixed_polynomial() {
        let fixed = |coeffs: &'static [u8]| {
            move |buf: &mut [u8]| {
                buf.copy_from_slice(coeffs);
                Ok(())
            }
        };

        let shares = split_with(&[0x2A], 3, 2, fixed(&[0x07])).unwrap();
        let expected: [&[u8]; 3] = [&[0x2D, 1], &[0x24, 2], &[0x23, 3]];
        assert_eq!(refs(&shares), expected);
        assert_eq!(*combine(&expected[1..]).unwrap(), [0x2A]);

        let shares = split_with(&[0x53], 4, 3, fixed(&[0x57, 0x83])).unwrap();
        let expected: [&[u8]; 4] = [&[0x87, 1], &[0xC7, 2], &[0x13, 3], &[0xFC, 4]];
        assert_eq!(refs(&shares), expected);
        assert_eq!(
            *combine(&[expected[3], expected[0], expected[2]]).unwrap(),
            [0x53]
        );

        // Two secret bytes consume coefficients byte by byte.
        let shares = split_with(&[0x2A, 0x53], 2, 2, fixed(&[0x07, 0x57])).unwrap();
        assert_eq!(*shares[0], [0x2D, 0x53 ^ 0x57, 1]);
        assert_eq!(*shares[1], [0x24, 0x53 ^ 0xAE, 2]);
    }

    #[test]
    fn randomness_failure_is_reported() {
        let err = split_with(&[1, 2, 3], 3, 2, |_| {
            Err(ShamirError::Randomness(getrandom::Error::UNSUPPORTED))
        })
        .unwrap_err();
        assert_eq!(err, ShamirError::Randomness(getrandom::Error::UNSUPPORTED));
    }

    /// Share sets produced by HashiCorp Vault's Go implementation (via a CLI
    /// wrapping `github.com/hashicorp/vault/shamir`, from its published
    /// README examples; base64 there, hex here). That Vault version chose
    /// x-coordinates at random, so these also exercise non-sequential x.
    #[test]
    fn known_answer_vault_generated_shares() {
        // "Three can keep a secret if two are dead.\n", parts 3, threshold 2.
        let dead = [
            "ba93a22e40fb03fbdad37152b410fe355f5f78194aa2813c8a61fb249fc25db6d5de9437107c59090df3",
            "75f276203ef3b8d35063e66a92abe1bb640207354b272bb18389f34f4ad2998aeb6d1e5105034f88e543",
            "fa9ff782fba4f6c3538d1ed420e5491e2d776683ef226fe37010a4266f7cb692a0741d6da962142b7cad",
        ]
        .map(unhex);
        let dead_refs: Vec<&[u8]> = dead.iter().map(Vec::as_slice).collect();
        for subset in subsets(3, 2).into_iter().chain([vec![0, 1, 2]]) {
            let picked: Vec<&[u8]> = subset.iter().map(|&i| dead_refs[i]).collect();
            assert_eq!(
                *combine(&picked).unwrap(),
                *b"Three can keep a secret if two are dead.\n"
            );
        }

        // "I've never been to Spain.\n", parts 8, threshold 5.
        let spain = [
            "8d962aa89682c6de2466387fc4201a917206d1729d9e5c58f3dfd2",
            "d72b9b5efb3c19d4aa3bc18f5fd5f09387d5db6309ff817cc3187d",
            "7ee55099186455e2901b3a4f553d1e370bcb5c7c6b42642314b187",
            "6208319b3d9b9ad4cd3c05fd72d1df7f0aacc380ecf066470e96b5",
            "3729ecd2900a09f7aa2c2af3c55f93a68242bc324a4ea266476906",
            "6bffeb0b5211711a30eb4058e52415fba6d95cb15b531b76db5cf2",
            "b81df8334a54079be58e021f748b431deb447caab10d079ae80f77",
            "39441ef02c190474dbc2dd196bf2112d494b7c1dfdb26ac4204a6d",
        ]
        .map(unhex);
        let spain_refs: Vec<&[u8]> = spain.iter().map(Vec::as_slice).collect();
        for size in 5..=8 {
            for subset in subsets(8, size) {
                let picked: Vec<&[u8]> = subset.iter().map(|&i| spain_refs[i]).collect();
                assert_eq!(*combine(&picked).unwrap(), *b"I've never been to Spain.\n");
            }
        }
        for subset in subsets(8, 4) {
            let picked: Vec<&[u8]> = subset.iter().map(|&i| spain_refs[i]).collect();
            assert_ne!(*combine(&picked).unwrap(), *b"I've never been to Spain.\n");
        }
    }

    #[test]
    fn x_zero_share_is_accepted() {
        // A share at x = 0 holds the secret itself; Vault/SOPS accept it too.
        let shares = split_with(&[0x2A], 2, 2, |b| {
            b.copy_from_slice(&[0x07]);
            Ok(())
        })
        .unwrap();
        assert_eq!(*combine(&[&[0x2A, 0], &shares[0]]).unwrap(), [0x2A]);
    }

    #[test]
    fn split_errors() {
        let secret = b"test";
        assert_eq!(
            split(secret, 0, 0),
            Err(ShamirError::ThresholdTooSmall { threshold: 0 })
        );
        assert_eq!(
            split(secret, 10, 1),
            Err(ShamirError::ThresholdTooSmall { threshold: 1 })
        );
        assert_eq!(
            split(secret, 2, 3),
            Err(ShamirError::PartsLessThanThreshold {
                parts: 2,
                threshold: 3
            })
        );
        assert_eq!(
            split(secret, 1000, 3),
            Err(ShamirError::TooManyParts { parts: 1000 })
        );
        assert_eq!(
            split(secret, 256, 256),
            Err(ShamirError::TooManyParts { parts: 256 })
        );
        assert_eq!(split(&[], 3, 2), Err(ShamirError::EmptySecret));
    }

    #[test]
    fn combine_errors() {
        assert_eq!(combine(&[]), Err(ShamirError::TooFewShares { count: 0 }));
        assert_eq!(
            combine(&[b"abc"]),
            Err(ShamirError::TooFewShares { count: 1 })
        );
        assert_eq!(
            combine(&[b"f", b"b"]),
            Err(ShamirError::ShareTooShort { len: 1 })
        );
        assert_eq!(
            combine(&[b"", b""]),
            Err(ShamirError::ShareTooShort { len: 0 })
        );
        assert_eq!(
            combine(&[b"foo", b"ba"]),
            Err(ShamirError::ShareLengthMismatch {
                index: 1,
                expected: 3,
                found: 2
            })
        );
        assert_eq!(
            combine(&[b"foo", b"bar", b"quux"]),
            Err(ShamirError::ShareLengthMismatch {
                index: 2,
                expected: 3,
                found: 4
            })
        );
        assert_eq!(
            combine(&[b"foo", b"foo"]),
            Err(ShamirError::DuplicateShare { x: b'o' })
        );
        assert_eq!(
            combine(&[b"ab\x01", b"cd\x02", b"ef\x01"]),
            Err(ShamirError::DuplicateShare { x: 1 })
        );
    }

    #[test]
    fn error_messages_are_descriptive() {
        assert_eq!(
            ShamirError::PartsLessThanThreshold {
                parts: 2,
                threshold: 3
            }
            .to_string(),
            "number of Shamir shares (2) cannot be less than the threshold (3)"
        );
        assert_eq!(
            ShamirError::DuplicateShare { x: 4 }.to_string(),
            "duplicate Shamir share: x-coordinate 4 appears more than once"
        );
    }
}
