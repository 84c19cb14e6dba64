//! Names: S3 URIs, the table's key for a video, its index shard, and where its stream goes.
//!
//! Keys are kept byte for byte as S3 returns them (spaces, unicode, `+`): nothing here
//! URL-encodes or normalises, because a key that does not round-trip is a video lost.

use std::fmt;

/// An `s3://bucket/key-or-prefix` location.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct S3Uri {
    /// The bucket name.
    pub bucket: String,
    /// The key or prefix inside the bucket, possibly empty.
    pub key: String,
}

/// Why a string is not an S3 URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an S3 URI: {input:?} (expected s3://bucket/prefix/)")]
pub struct BadS3Uri {
    /// What was given.
    pub input: String,
}

impl S3Uri {
    /// Parses `s3://bucket/key`. The bucket must be non-empty and hold no `/`.
    pub fn parse(input: &str) -> Result<Self, BadS3Uri> {
        let bad = || BadS3Uri {
            input: input.to_string(),
        };
        let rest = input.strip_prefix("s3://").ok_or_else(bad)?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = !bucket.is_empty()
            && bucket
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if !valid_bucket {
            return Err(bad());
        }
        Ok(Self {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    /// The same location, as a prefix that ends in `/` (or is empty, for a whole bucket).
    pub fn as_prefix(&self) -> S3Uri {
        let key = if self.key.is_empty() || self.key.ends_with('/') {
            self.key.clone()
        } else {
            format!("{}/", self.key)
        };
        S3Uri {
            bucket: self.bucket.clone(),
            key,
        }
    }
}

impl fmt::Display for S3Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// The table's partition key for a source video: its full S3 URI, so that two input buckets
/// can never collide and an operator can read the item's key as-is.
pub fn video_id(bucket: &str, key: &str) -> String {
    format!("s3://{bucket}/{key}")
}

/// The `ready` index shard of a video: FNV-1a of its id, modulo `shards`.
///
/// Sharding keeps 200 claimers from fighting over one index partition key; FNV is used
/// instead of `std`'s hasher because the value is persisted and must never change between
/// builds.
pub fn shard_of(video_id: &str, shards: u32) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in video_id.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    shard_name((h % u64::from(shards.max(1))) as u32)
}

/// The stored name of shard number `n` of the fresh lane.
pub fn shard_name(n: u32) -> String {
    Lane::Fresh.shard(n)
}

/// The two lanes of the `ready` index. Fresh videos (seeded, never claimed) wait in `sNN`
/// shards; a video that comes back (retried after a failure, given back by a worker, or whose
/// lease lapsed) waits in `rNN` shards, which claimers visit first: a spot-reclaimed lesson
/// must not wait behind a million fresh ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Never claimed.
    Fresh,
    /// Claimed before: held now, or back after a failure, a release or a lapse.
    Reentry,
}

/// Shards of the re-entry lane. Fewer than the fresh lane's: a claim visits every one of them
/// before fresh work (each an index Query, 0.5 read unit at least), and re-entries are few.
/// They also hold the running videos, whose heartbeats update the index: at 5,000 slots
/// heartbeating every 15 s, about 83 updates a second per shard, far below a partition's limit.
pub const REENTRY_SHARDS: u32 = 4;

impl Lane {
    /// Both lanes, re-entries first.
    pub const ALL: [Lane; 2] = [Lane::Reentry, Lane::Fresh];

    /// How many shards this lane has, the fresh lane having `fresh`.
    pub fn shards(self, fresh: u32) -> u32 {
        match self {
            Lane::Fresh => fresh,
            Lane::Reentry => REENTRY_SHARDS.min(fresh.max(1)),
        }
    }

    /// The stored name of shard `n` of this lane.
    pub fn shard(self, n: u32) -> String {
        match self {
            Lane::Fresh => format!("s{n:02}"),
            Lane::Reentry => format!("r{n:02}"),
        }
    }
}

/// The re-entry lane's shard for a video in `shard` (of either lane): its number modulo
/// [`REENTRY_SHARDS`], so a video's shard stays a function of its key.
pub fn reentry_shard(shard: &str) -> String {
    let n: u32 = shard.trim_start_matches(['s', 'r']).parse().unwrap_or(0);
    Lane::Reentry.shard(n % REENTRY_SHARDS)
}

/// Where a video's stream goes: `<out prefix>/<key relative to the input prefix, extension
/// removed>`, without a trailing slash. `master.m3u8` and the renditions go beneath it.
///
/// Returns `None` when `key` is not under `input_prefix` (a seeding bug, never a guess).
pub fn output_prefix(input_prefix: &str, key: &str, out_prefix: &str) -> Option<String> {
    let rel = key.strip_prefix(input_prefix)?;
    let (dir, file) = match rel.rsplit_once('/') {
        Some((d, f)) => (Some(d), f),
        None => (None, rel),
    };
    let stem = match file.rsplit_once('.') {
        Some((stem, _ext)) if !stem.is_empty() => stem,
        _ => file,
    };
    if stem.is_empty() {
        return None;
    }
    let rel = match dir {
        Some(d) => format!("{d}/{stem}"),
        None => stem.to_string(),
    };
    let out = out_prefix.trim_end_matches('/');
    Some(if out.is_empty() {
        rel
    } else {
        format!("{out}/{rel}")
    })
}

/// The lower-cased extension of a key, if its file name has one.
pub fn extension(key: &str) -> Option<String> {
    let file = key.rsplit('/').next().unwrap_or(key);
    match file.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() => Some(ext.to_lowercase()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_s3_uris() {
        let u = S3Uri::parse("s3://in/AI CERTs/Videos/").unwrap();
        assert_eq!(u.bucket, "in");
        assert_eq!(u.key, "AI CERTs/Videos/");
        assert_eq!(S3Uri::parse("s3://in").unwrap().key, "");
        assert_eq!(S3Uri::parse("s3://in/a").unwrap().as_prefix().key, "a/");
        for bad in ["", "in/x", "s3://", "s3:///x", "http://in/x", "s3://b ad/x"] {
            assert!(S3Uri::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn output_keeps_unicode_and_spaces_and_drops_the_extension() {
        assert_eq!(
            output_prefix(
                "AI CERTs/Videos/",
                "AI CERTs/Videos/Kurs ü/Lektion 1+2.mp4",
                "hls/"
            )
            .as_deref(),
            Some("hls/Kurs ü/Lektion 1+2")
        );
        assert_eq!(output_prefix("", "a.b.mov", "").as_deref(), Some("a.b"));
        assert_eq!(
            output_prefix("", ".hidden", "o").as_deref(),
            Some("o/.hidden")
        );
        assert_eq!(output_prefix("x/", "y/a.mp4", "o"), None);
        assert_eq!(output_prefix("x/", "x/", "o"), None);
    }

    #[test]
    fn shards_are_stable_and_spread() {
        // Persisted values: these must never change. FNV-1a's published 64-bit vectors:
        // "" is the offset basis 0xcbf29ce484222325, "a" is 0xaf63dc4c8601ec8c and "foobar"
        // is 0x85944171f73967e8; modulo 16 they are 5, 12 and 8.
        assert_eq!(shard_of("", 16), "s05");
        assert_eq!(shard_of("a", 16), "s12");
        assert_eq!(shard_of("foobar", 16), "s08");
        // Real ids, pinned from the code as it shipped (0x3a7427d7a23b7107 for the first).
        assert_eq!(shard_of("s3://in/a.mp4", 16), "s07");
        assert_eq!(shard_of("s3://in/a.mp4", 64), "s07");
        assert_eq!(
            shard_of("s3://in/AI CERTs/Videos/Kurs ü/Lektion 1+2.mp4", 16),
            "s12"
        );
        // No shards is one shard, never a division by zero.
        assert_eq!(shard_of("s3://in/a.mp4", 0), "s00");
        let mut counts = [0u32; 16];
        for i in 0..16_000 {
            let s = shard_of(&format!("s3://in/video-{i}.mp4"), 16);
            counts[s[1..].parse::<usize>().unwrap()] += 1;
        }
        assert!(
            counts.iter().all(|&c| (800..1200).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(shard_name(3), "s03");
    }

    #[test]
    fn a_video_re_enters_in_its_shard_number_modulo_the_re_entry_shards() {
        assert_eq!(reentry_shard("s07"), "r03");
        assert_eq!(reentry_shard("r03"), "r03");
        assert_eq!(reentry_shard("s12"), "r00");
        assert_eq!(Lane::Reentry.shard(3), "r03");
        assert_eq!(shard_name(3), "s03");
    }

    #[test]
    fn extensions() {
        assert_eq!(extension("a/b.MP4").as_deref(), Some("mp4"));
        assert_eq!(extension("a.d/b").as_deref(), None);
        assert_eq!(extension(".mp4"), None);
    }
}
