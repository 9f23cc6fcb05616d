//! States and kinds kept as `text` columns: one enum per column, written and read as its
//! snake_case name in SQL and in JSON alike, so a row never carries a free-form string and a
//! value nobody wrote fails loudly at the boundary instead of being matched against a typo.

#[doc(hidden)]
pub use bytes::BytesMut;

/// Declares such an enum: serde and strum give it the snake_case names (`as_str`, `FromStr`,
/// `VARIANTS`), and it binds to and reads from `text` in tokio-postgres. The crate using it
/// needs `serde`, `strum` and `tokio-postgres`; extra derives (`utoipa::ToSchema`) go on top.
#[macro_export]
macro_rules! text_enum {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash,
            serde::Serialize, serde::Deserialize,
            strum::EnumString, strum::IntoStaticStr, strum::VariantArray,
        )]
        #[serde(rename_all = "snake_case")]
        #[strum(serialize_all = "snake_case")]
        $vis enum $name { $($(#[$vmeta])* $variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<'a> tokio_postgres::types::FromSql<'a> for $name {
            fn from_sql(
                ty: &tokio_postgres::types::Type,
                raw: &'a [u8],
            ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
                let text = <&str as tokio_postgres::types::FromSql>::from_sql(ty, raw)?;
                text.parse().map_err(|_| {
                    format!("{text:?} is no {}", stringify!($name)).into()
                })
            }

            fn accepts(ty: &tokio_postgres::types::Type) -> bool {
                <&str as tokio_postgres::types::FromSql>::accepts(ty)
            }
        }

        impl tokio_postgres::types::ToSql for $name {
            fn to_sql(
                &self,
                ty: &tokio_postgres::types::Type,
                out: &mut $crate::text_enum::BytesMut,
            ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
                <&str as tokio_postgres::types::ToSql>::to_sql(&self.as_str(), ty, out)
            }

            fn accepts(ty: &tokio_postgres::types::Type) -> bool {
                <&str as tokio_postgres::types::ToSql>::accepts(ty)
            }

            tokio_postgres::types::to_sql_checked!();
        }
    };
}

#[cfg(test)]
mod tests {
    use strum::VariantArray;

    crate::text_enum! {
        /// A test state.
        enum Phase { Waiting, PayoutRequested }
    }

    #[test]
    fn names_are_snake_case_in_text_and_json() {
        assert_eq!(Phase::PayoutRequested.as_str(), "payout_requested");
        assert_eq!("waiting".parse::<Phase>(), Ok(Phase::Waiting));
        assert!("Waiting".parse::<Phase>().is_err());
        for phase in Phase::VARIANTS {
            let json = serde_json::to_value(phase).unwrap();
            assert_eq!(json, phase.as_str());
        }
    }
}
