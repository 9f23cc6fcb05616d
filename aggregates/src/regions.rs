//! The subjects of the Russian Federation and the time zones they keep.
//!
//! Codes are the two-digit subject codes of the tax service: the first two digits of an ИНН, the
//! same as the base code on a registration plate. Zones are tz database (IANA) names, chosen from
//! the `zone1970.tab` comments for Russia and the per-zone "covers" lists in the tz `europe` file
//! (tzdata 2025b). Those lists number some subjects differently (Perm Krai 90, Kamchatka 91,
//! Zabaykalsky 92, from a 2014 Wikipedia table); the codes here are the tax codes, which give
//! those subjects 59, 41 and 75.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A subject of the Russian Federation: its two-digit code, name, and the time zones it spans (IANA
/// names), the first being the zone of its administrative centre.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub code: &'static str,
    pub name: &'static str,
    pub time_zones: &'static [&'static str],
}

const KALININGRAD: &[&str] = &["Europe/Kaliningrad"];
const MOSCOW: &[&str] = &["Europe/Moscow"];
const SIMFEROPOL: &[&str] = &["Europe/Simferopol"];
const KIROV: &[&str] = &["Europe/Kirov"];
const VOLGOGRAD: &[&str] = &["Europe/Volgograd"];
const ASTRAKHAN: &[&str] = &["Europe/Astrakhan"];
const SARATOV: &[&str] = &["Europe/Saratov"];
const ULYANOVSK: &[&str] = &["Europe/Ulyanovsk"];
const SAMARA: &[&str] = &["Europe/Samara"];
const YEKATERINBURG: &[&str] = &["Asia/Yekaterinburg"];
const OMSK: &[&str] = &["Asia/Omsk"];
const NOVOSIBIRSK: &[&str] = &["Asia/Novosibirsk"];
const BARNAUL: &[&str] = &["Asia/Barnaul"];
const TOMSK: &[&str] = &["Asia/Tomsk"];
const NOVOKUZNETSK: &[&str] = &["Asia/Novokuznetsk"];
const KRASNOYARSK: &[&str] = &["Asia/Krasnoyarsk"];
const IRKUTSK: &[&str] = &["Asia/Irkutsk"];
const CHITA: &[&str] = &["Asia/Chita"];
const YAKUTSK: &[&str] = &["Asia/Yakutsk"];
const VLADIVOSTOK: &[&str] = &["Asia/Vladivostok"];
const MAGADAN: &[&str] = &["Asia/Magadan"];
const KAMCHATKA: &[&str] = &["Asia/Kamchatka"];
const ANADYR: &[&str] = &["Asia/Anadyr"];

/// Yakutia spans three offsets and five tz zones: most districts with Yakutsk; Tomponsky and
/// Ust-Maysky (Khandyga) on the same offset with a different history; Verkhoyansky and
/// Ust-Yansky with Vladivostok; Oymyakonsky (Ust-Nera) on the same offset with a different
/// history; and the north-eastern districts (Srednekolymsk) one hour further on.
const SAKHA: &[&str] = &[
    "Asia/Yakutsk",
    "Asia/Khandyga",
    "Asia/Vladivostok",
    "Asia/Ust-Nera",
    "Asia/Srednekolymsk",
];

/// Sakhalin Oblast keeps Sakhalin time, except Severo-Kurilsky District (the North Kuril
/// Islands), which the tz database files under Asia/Srednekolymsk.
const SAKHALIN: &[&str] = &["Asia/Sakhalin", "Asia/Srednekolymsk"];

/// The tz database has no zone for the four subjects admitted in 2022 (its Europe/Kyiv, "most of
/// Ukraine", follows Kyiv's EET/EEST), but their clocks keep Moscow time, so Europe/Moscow gives
/// their local time.
const MOSCOW_SINCE_2022: &[&str] = MOSCOW;

/// Every subject, sorted by code so that [`region`] can search it by halves.
// One subject a line reads as the table it is; rustfmt would spread each over five lines.
#[rustfmt::skip]
pub const REGIONS: &[Region] = &[
    Region { code: "01", name: "Республика Адыгея (Адыгея)", time_zones: MOSCOW },
    Region { code: "02", name: "Республика Башкортостан", time_zones: YEKATERINBURG },
    Region { code: "03", name: "Республика Бурятия", time_zones: IRKUTSK },
    Region { code: "04", name: "Республика Алтай", time_zones: BARNAUL },
    Region { code: "05", name: "Республика Дагестан", time_zones: MOSCOW },
    Region { code: "06", name: "Республика Ингушетия", time_zones: MOSCOW },
    Region { code: "07", name: "Кабардино-Балкарская Республика", time_zones: MOSCOW },
    Region { code: "08", name: "Республика Калмыкия", time_zones: MOSCOW },
    Region { code: "09", name: "Карачаево-Черкесская Республика", time_zones: MOSCOW },
    Region { code: "10", name: "Республика Карелия", time_zones: MOSCOW },
    Region { code: "11", name: "Республика Коми", time_zones: MOSCOW },
    Region { code: "12", name: "Республика Марий Эл", time_zones: MOSCOW },
    Region { code: "13", name: "Республика Мордовия", time_zones: MOSCOW },
    Region { code: "14", name: "Республика Саха (Якутия)", time_zones: SAKHA },
    Region { code: "15", name: "Республика Северная Осетия — Алания", time_zones: MOSCOW },
    Region { code: "16", name: "Республика Татарстан (Татарстан)", time_zones: MOSCOW },
    Region { code: "17", name: "Республика Тыва", time_zones: KRASNOYARSK },
    Region { code: "18", name: "Удмуртская Республика", time_zones: SAMARA },
    Region { code: "19", name: "Республика Хакасия", time_zones: KRASNOYARSK },
    Region { code: "20", name: "Чеченская Республика", time_zones: MOSCOW },
    Region { code: "21", name: "Чувашская Республика — Чувашия", time_zones: MOSCOW },
    Region { code: "22", name: "Алтайский край", time_zones: BARNAUL },
    Region { code: "23", name: "Краснодарский край", time_zones: MOSCOW },
    Region { code: "24", name: "Красноярский край", time_zones: KRASNOYARSK },
    Region { code: "25", name: "Приморский край", time_zones: VLADIVOSTOK },
    Region { code: "26", name: "Ставропольский край", time_zones: MOSCOW },
    Region { code: "27", name: "Хабаровский край", time_zones: VLADIVOSTOK },
    Region { code: "28", name: "Амурская область", time_zones: YAKUTSK },
    Region { code: "29", name: "Архангельская область", time_zones: MOSCOW },
    Region { code: "30", name: "Астраханская область", time_zones: ASTRAKHAN },
    Region { code: "31", name: "Белгородская область", time_zones: MOSCOW },
    Region { code: "32", name: "Брянская область", time_zones: MOSCOW },
    Region { code: "33", name: "Владимирская область", time_zones: MOSCOW },
    Region { code: "34", name: "Волгоградская область", time_zones: VOLGOGRAD },
    Region { code: "35", name: "Вологодская область", time_zones: MOSCOW },
    Region { code: "36", name: "Воронежская область", time_zones: MOSCOW },
    Region { code: "37", name: "Ивановская область", time_zones: MOSCOW },
    Region { code: "38", name: "Иркутская область", time_zones: IRKUTSK },
    Region { code: "39", name: "Калининградская область", time_zones: KALININGRAD },
    Region { code: "40", name: "Калужская область", time_zones: MOSCOW },
    Region { code: "41", name: "Камчатский край", time_zones: KAMCHATKA },
    Region { code: "42", name: "Кемеровская область — Кузбасс", time_zones: NOVOKUZNETSK },
    Region { code: "43", name: "Кировская область", time_zones: KIROV },
    Region { code: "44", name: "Костромская область", time_zones: MOSCOW },
    Region { code: "45", name: "Курганская область", time_zones: YEKATERINBURG },
    Region { code: "46", name: "Курская область", time_zones: MOSCOW },
    Region { code: "47", name: "Ленинградская область", time_zones: MOSCOW },
    Region { code: "48", name: "Липецкая область", time_zones: MOSCOW },
    Region { code: "49", name: "Магаданская область", time_zones: MAGADAN },
    Region { code: "50", name: "Московская область", time_zones: MOSCOW },
    Region { code: "51", name: "Мурманская область", time_zones: MOSCOW },
    Region { code: "52", name: "Нижегородская область", time_zones: MOSCOW },
    Region { code: "53", name: "Новгородская область", time_zones: MOSCOW },
    Region { code: "54", name: "Новосибирская область", time_zones: NOVOSIBIRSK },
    Region { code: "55", name: "Омская область", time_zones: OMSK },
    Region { code: "56", name: "Оренбургская область", time_zones: YEKATERINBURG },
    Region { code: "57", name: "Орловская область", time_zones: MOSCOW },
    Region { code: "58", name: "Пензенская область", time_zones: MOSCOW },
    Region { code: "59", name: "Пермский край", time_zones: YEKATERINBURG },
    Region { code: "60", name: "Псковская область", time_zones: MOSCOW },
    Region { code: "61", name: "Ростовская область", time_zones: MOSCOW },
    Region { code: "62", name: "Рязанская область", time_zones: MOSCOW },
    Region { code: "63", name: "Самарская область", time_zones: SAMARA },
    Region { code: "64", name: "Саратовская область", time_zones: SARATOV },
    Region { code: "65", name: "Сахалинская область", time_zones: SAKHALIN },
    Region { code: "66", name: "Свердловская область", time_zones: YEKATERINBURG },
    Region { code: "67", name: "Смоленская область", time_zones: MOSCOW },
    Region { code: "68", name: "Тамбовская область", time_zones: MOSCOW },
    Region { code: "69", name: "Тверская область", time_zones: MOSCOW },
    Region { code: "70", name: "Томская область", time_zones: TOMSK },
    Region { code: "71", name: "Тульская область", time_zones: MOSCOW },
    Region { code: "72", name: "Тюменская область", time_zones: YEKATERINBURG },
    Region { code: "73", name: "Ульяновская область", time_zones: ULYANOVSK },
    Region { code: "74", name: "Челябинская область", time_zones: YEKATERINBURG },
    Region { code: "75", name: "Забайкальский край", time_zones: CHITA },
    Region { code: "76", name: "Ярославская область", time_zones: MOSCOW },
    Region { code: "77", name: "Москва", time_zones: MOSCOW },
    Region { code: "78", name: "Санкт-Петербург", time_zones: MOSCOW },
    Region { code: "79", name: "Еврейская автономная область", time_zones: VLADIVOSTOK },
    Region { code: "83", name: "Ненецкий автономный округ", time_zones: MOSCOW },
    Region {
        code: "86", name: "Ханты-Мансийский автономный округ — Югра", time_zones: YEKATERINBURG,
    },
    Region { code: "87", name: "Чукотский автономный округ", time_zones: ANADYR },
    Region { code: "89", name: "Ямало-Ненецкий автономный округ", time_zones: YEKATERINBURG },
    Region { code: "90", name: "Запорожская область", time_zones: MOSCOW_SINCE_2022 },
    Region { code: "91", name: "Республика Крым", time_zones: SIMFEROPOL },
    // Sevastopol keeps the same time as the rest of Crimea, which Europe/Simferopol covers.
    Region { code: "92", name: "Севастополь", time_zones: SIMFEROPOL },
    Region { code: "93", name: "Донецкая Народная Республика", time_zones: MOSCOW_SINCE_2022 },
    Region { code: "94", name: "Луганская Народная Республика", time_zones: MOSCOW_SINCE_2022 },
    Region { code: "95", name: "Херсонская область", time_zones: MOSCOW_SINCE_2022 },
];

/// The region with this code ("01".."95").
pub fn region(code: &str) -> Option<&'static Region> {
    REGIONS
        .binary_search_by(|region| region.code.cmp(code))
        .ok()
        .map(|index| &REGIONS[index])
}

impl Region {
    /// The one zone of a region that has one; `None` where the region spans several (the applicant
    /// must name theirs).
    pub fn only_time_zone(&self) -> Option<&'static str> {
        match self.time_zones {
            &[zone] => Some(zone),
            _ => None,
        }
    }

    pub fn has_time_zone(&self, zone: &str) -> bool {
        self.time_zones.contains(&zone)
    }
}

/// A region's code as an address carries it, checked against the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RegionCode(&'static Region);

impl RegionCode {
    pub fn parse(code: &str) -> Result<Self, TimeZoneError> {
        region(code.trim())
            .map(Self)
            .ok_or(TimeZoneError::UnknownRegion)
    }

    pub fn region(self) -> &'static Region {
        self.0
    }
}

impl TryFrom<String> for RegionCode {
    type Error = TimeZoneError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<RegionCode> for String {
    fn from(value: RegionCode) -> Self {
        value.0.code.to_string()
    }
}

/// A debtor's local time zone (an IANA name of a Russian region's zone): 230-FZ art. 7 counts
/// the hours a debtor may be contacted in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LocalTimeZone(chrono_tz::Tz);

impl LocalTimeZone {
    /// The lender's own time, and a debtor's where no region was given.
    pub const MOSCOW: Self = Self(chrono_tz::Europe::Moscow);

    pub fn parse(name: &str) -> Result<Self, TimeZoneError> {
        let name = name.trim();
        if !REGIONS.iter().any(|region| region.has_time_zone(name)) {
            return Err(TimeZoneError::UnknownZone);
        }
        name.parse()
            .map(Self)
            .map_err(|_| TimeZoneError::UnknownZone)
    }

    pub fn tz(self) -> chrono_tz::Tz {
        self.0
    }

    /// The IANA names of every zone of every region, each once.
    pub fn all_names() -> impl Iterator<Item = &'static str> {
        let mut names: Vec<&'static str> = REGIONS
            .iter()
            .flat_map(|region| region.time_zones.iter().copied())
            .collect();
        names.sort_unstable();
        names.dedup();
        names.into_iter()
    }

    /// The zone of the debtor's residence region (else registration region), or `asked` if
    /// given: it must then be one of that region's zones. A region spanning several zones needs
    /// `asked`. With no region at all (addresses as bare text, as before regions were asked),
    /// Moscow time, the lender's own.
    pub fn for_addresses(
        asked: Option<LocalTimeZone>,
        residence: Option<RegionCode>,
        registration: Option<RegionCode>,
    ) -> Result<Self, TimeZoneError> {
        let region = residence.or(registration).map(RegionCode::region);
        match (asked, region) {
            (Some(zone), Some(region)) if !region.has_time_zone(zone.0.name()) => {
                Err(TimeZoneError::NotInRegion {
                    region: region.name,
                })
            }
            (Some(zone), _) => Ok(zone),
            (None, Some(region)) => {
                region
                    .only_time_zone()
                    .map(Self::parse)
                    .unwrap_or(Err(TimeZoneError::Required {
                        region: region.name,
                    }))
            }
            (None, None) => Ok(Self::default()),
        }
    }
}

impl Default for LocalTimeZone {
    fn default() -> Self {
        Self::MOSCOW
    }
}

impl fmt::Display for LocalTimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

impl TryFrom<String> for LocalTimeZone {
    type Error = TimeZoneError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<LocalTimeZone> for String {
    fn from(value: LocalTimeZone) -> Self {
        value.0.name().to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeZoneError {
    #[error("not the two-digit code of a subject of the Russian Federation")]
    UnknownRegion,
    #[error("not the time zone (IANA name) of a Russian region, e.g. Europe/Moscow")]
    UnknownZone,
    #[error("not a time zone of {region}")]
    NotInRegion { region: &'static str },
    #[error("{region} spans several time zones: name yours (time_zone)")]
    Required { region: &'static str },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_zone_comes_from_the_residence_region_else_the_registration_one() {
        let code = |c: &str| Some(RegionCode::parse(c).unwrap());
        let zone = |z: &str| LocalTimeZone::parse(z).unwrap();
        let of = LocalTimeZone::for_addresses;
        assert_eq!(
            of(None, code("25"), code("77")),
            Ok(zone("Asia/Vladivostok"))
        );
        assert_eq!(of(None, None, code("25")), Ok(zone("Asia/Vladivostok")));
        assert_eq!(of(None, None, None), Ok(zone("Europe/Moscow")));
        assert!(matches!(
            of(None, code("14"), None),
            Err(TimeZoneError::Required { .. })
        ));
        assert_eq!(
            of(Some(zone("Asia/Khandyga")), code("14"), None),
            Ok(zone("Asia/Khandyga"))
        );
        assert!(matches!(
            of(Some(zone("Europe/Moscow")), code("25"), None),
            Err(TimeZoneError::NotInRegion { .. })
        ));
        assert_eq!(RegionCode::parse("99"), Err(TimeZoneError::UnknownRegion));
        assert_eq!(
            LocalTimeZone::parse("Europe/Berlin"),
            Err(TimeZoneError::UnknownZone)
        );
    }

    #[test]
    fn codes_are_two_digits_unique_and_sorted() {
        for region in REGIONS {
            assert!(
                region.code.len() == 2 && region.code.bytes().all(|b| b.is_ascii_digit()),
                "{:?}",
                region.code
            );
        }
        // Strictly increasing means both sorted (which `region` relies on) and unique.
        for pair in REGIONS.windows(2) {
            assert!(
                pair[0].code < pair[1].code,
                "{} then {}",
                pair[0].code,
                pair[1].code
            );
        }
    }

    #[test]
    fn there_are_89_subjects() {
        assert_eq!(REGIONS.len(), 89);
    }

    #[test]
    fn every_region_is_found_by_its_code() {
        for expected in REGIONS {
            assert_eq!(region(expected.code), Some(expected));
        }
        assert_eq!(region("00"), None);
        assert_eq!(region("80"), None);
        assert_eq!(region("99"), None);
        assert_eq!(region("7"), None);
    }

    #[test]
    fn moscow_is_on_moscow_time_only() {
        let moscow = region("77").unwrap();
        assert_eq!(moscow.name, "Москва");
        assert_eq!(moscow.only_time_zone(), Some("Europe/Moscow"));
        assert!(moscow.has_time_zone("Europe/Moscow"));
        assert!(!moscow.has_time_zone("Europe/Kaliningrad"));
    }

    #[test]
    fn primorsky_krai_is_on_vladivostok_time() {
        assert_eq!(
            region("25").unwrap().only_time_zone(),
            Some("Asia/Vladivostok")
        );
    }

    #[test]
    fn yakutia_and_sakhalin_span_several_zones() {
        let sakha = region("14").unwrap();
        assert_eq!(sakha.only_time_zone(), None);
        assert_eq!(sakha.time_zones[0], "Asia/Yakutsk");
        assert!(sakha.has_time_zone("Asia/Srednekolymsk"));

        let sakhalin = region("65").unwrap();
        assert_eq!(sakhalin.only_time_zone(), None);
        assert_eq!(sakhalin.time_zones[0], "Asia/Sakhalin");
        assert!(sakhalin.has_time_zone("Asia/Srednekolymsk"));
    }

    #[test]
    fn every_region_has_a_zone_and_no_zone_twice() {
        for region in REGIONS {
            assert!(!region.time_zones.is_empty(), "{}", region.code);
            for (i, zone) in region.time_zones.iter().enumerate() {
                assert!(
                    !region.time_zones[..i].contains(zone),
                    "{} {zone}",
                    region.code
                );
            }
        }
    }

    #[test]
    fn every_zone_is_known_to_chrono_tz() {
        for region in REGIONS {
            for zone in region.time_zones {
                assert!(
                    zone.parse::<chrono_tz::Tz>().is_ok(),
                    "{} {zone}",
                    region.code
                );
            }
        }
    }
}
