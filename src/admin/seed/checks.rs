//! What `seed` makes sure of before it writes a single item: the input holds videos (a typo
//! that matches nothing is an error naming the prefixes that do exist), and the output bucket
//! can take a stream (a typo there used to fail every video on every worker later).

use crate::blob;
use crate::domain::keys::S3Uri;
use crate::error::BlobError;

/// Why the output cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OutputProblem {
    /// The bucket does not exist.
    #[error("output bucket {0} does not exist (create it, or fix the URI)")]
    NoBucket(String),
    /// A write was refused.
    #[error("cannot write to {uri}: {code} (check the bucket policy and your role)")]
    Denied {
        /// Where.
        uri: String,
        /// S3's code.
        code: String,
    },
    /// Anything else S3 said.
    #[error("cannot write to {uri}: {source}")]
    Other {
        /// Where.
        uri: String,
        /// Cause.
        #[source]
        source: BlobError,
    },
}

/// Writes and deletes an empty object under `out` (or, for a dry run, which writes nothing,
/// only asks for the bucket): the same rights a worker needs to publish there.
pub async fn output_usable(
    s3: &aws_sdk_s3::Client,
    out: &S3Uri,
    dry_run: bool,
) -> Result<(), OutputProblem> {
    let uri = out.as_prefix().to_string();
    let key = format!(
        "{}.fleet-seed-check-{}",
        out.as_prefix().key,
        uuid::Uuid::new_v4()
    );
    let tried = if dry_run {
        s3.head_bucket()
            .bucket(&out.bucket)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| blob::classify(e, &out.bucket, ""))
    } else {
        match blob::put_bytes(s3, &out.bucket, &key, Vec::new(), "text/plain").await {
            // DeleteObjects answers 200 with per-key errors: one key deleted, or the check
            // object stays behind and the operator should know.
            Ok(()) => match blob::delete_keys(s3, &out.bucket, std::slice::from_ref(&key)).await {
                Ok(1) => Ok(()),
                Ok(_) => Err(BlobError::Denied {
                    bucket: out.bucket.clone(),
                    key,
                    code: "DeleteObject refused".into(),
                    source: "the check object was written but not deleted".into(),
                }),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        }
    };
    match tried {
        Ok(()) => Ok(()),
        Err(BlobError::NotFound { .. }) => Err(OutputProblem::NoBucket(out.bucket.clone())),
        Err(BlobError::Denied { code, .. }) => Err(OutputProblem::Denied { uri, code }),
        Err(source) => Err(OutputProblem::Other { uri, source }),
    }
}

/// The folders beside the one `input` names whose names come nearest to it (a wrong case, a
/// missing letter), best first, at most three; they are listed one level up (and at the
/// bucket's top if that level is empty).
pub async fn nearest_prefixes(s3: &aws_sdk_s3::Client, input: &S3Uri) -> Vec<String> {
    let wanted = input.key.trim_end_matches('/');
    let (parent, name) = match wanted.rsplit_once('/') {
        Some((p, n)) => (format!("{p}/"), n),
        None => (String::new(), wanted),
    };
    let mut near = Vec::new();
    for level in [parent.clone(), String::new()] {
        let Ok(page) = s3
            .list_objects_v2()
            .bucket(&input.bucket)
            .prefix(&level)
            .delimiter("/")
            .send()
            .await
        else {
            return near;
        };
        let folders: Vec<String> = page
            .common_prefixes()
            .iter()
            .filter_map(|p| p.prefix().map(str::to_string))
            .collect();
        if !folders.is_empty() || level.is_empty() {
            near = rank(name, &level, folders);
            break;
        }
        if parent.is_empty() {
            break;
        }
    }
    near.into_iter()
        .map(|p| format!("s3://{}/{p}", input.bucket))
        .collect()
}

/// Folders under `level` ranked by how close their last name is to `name`: the same letters
/// in another case first, then by edit distance; none further than half the name's length.
fn rank(name: &str, level: &str, folders: Vec<String>) -> Vec<String> {
    let lower = name.to_lowercase();
    let mut scored: Vec<(usize, String)> = folders
        .into_iter()
        .filter_map(|f| {
            let last = f.strip_prefix(level)?.trim_end_matches('/').to_lowercase();
            let d = strsim::levenshtein(&lower, &last);
            (d <= lower.chars().count().div_ceil(2).max(2)).then_some((d, f))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, f)| f).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_folders_come_first_and_strangers_not_at_all() {
        let folders = ["c/Week1/", "c/week2/", "c/archive/", "c/week10/"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            rank("week1", "c/", folders.clone()),
            ["c/Week1/", "c/week10/", "c/week2/"]
        );
        assert!(rank("zzzzzzzz", "c/", folders).is_empty());
    }
}
