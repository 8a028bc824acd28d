//! Where the machine is set up to be, from files: the system time zone,
//! the configured languages, keyboard layouts and input methods (Linux:
//! `/etc/localtime`, `/etc/default/locale`, `/etc/default/keyboard`, xorg,
//! AccountsService, KDE, fcitx and ibus; macOS: `/etc/localtime` and the
//! global and HIToolbox preferences). Parsers are pure; [`read`] reads
//! through the root, bounded, and says which sources it could not read.

use std::collections::{BTreeMap, BTreeSet};

use crate::root::{join, HostRoot};

/// What the host says about its place and its users' languages.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Setup {
    /// IANA zone and the file it was read from; None when nothing tells.
    pub timezone: Option<(String, String)>,
    /// Countries of each zone (`zone1970.tab`, `zone.tab`), when readable.
    pub zone_countries: BTreeMap<String, Vec<String>>,
    /// Language code → where it is configured.
    pub languages: BTreeMap<String, Vec<String>>,
    /// Keyboard layout (XKB code or macOS name) → where it is configured.
    pub layouts: BTreeMap<String, Vec<String>>,
    /// Input method language → where it is configured (a user's profile).
    pub methods_configured: BTreeMap<String, Vec<String>>,
    /// Input method language → installed engine files.
    pub methods_installed: BTreeMap<String, Vec<String>>,
    /// Whether any locale or keyboard configuration was readable at all.
    pub locale_read: bool,
    pub keyboard_read: bool,
}

const SMALL: u64 = 256 << 10;
const MAX_ENGINES: usize = 2048;

/// The IANA zone a `/etc/localtime` link points to
/// (`../usr/share/zoneinfo/Asia/Seoul`, `/var/db/timezone/zoneinfo/Asia/Seoul`).
/// Pure.
pub fn zone_of_link(target: &str) -> Option<String> {
    let (_, zone) = target.rsplit_once("zoneinfo/")?;
    let zone = zone
        .strip_prefix("posix/")
        .or_else(|| zone.strip_prefix("right/"))
        .unwrap_or(zone);
    valid_zone(zone).then(|| zone.to_string())
}

fn valid_zone(zone: &str) -> bool {
    !zone.is_empty()
        && zone.len() <= 64
        && zone
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_-+".contains(&b))
        && !zone.split('/').any(|p| p.is_empty() || p == "..")
}

/// Zone → countries from a `zone1970.tab` or `zone.tab` text. Pure.
pub fn parse_zone_tab(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let mut f = line.split('\t');
        let (Some(codes), Some(_), Some(zone)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let entry = out.entry(zone.trim().to_string()).or_default();
        for c in codes.split(',').map(str::trim).filter(|c| c.len() == 2) {
            if !entry.iter().any(|e| e == c) {
                entry.push(c.to_string());
            }
        }
    }
    out
}

/// The language of a locale name (`ko_KR.UTF-8` → `ko`); None for the
/// neutral C and POSIX locales. Pure.
pub fn language_of_locale(locale: &str) -> Option<String> {
    let l = locale.trim().trim_matches('"').trim_matches('\'');
    let code: String = l
        .split(['_', '.', '@', '-', ':'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if code.is_empty() || code == "c" || code == "posix" || !(2..=3).contains(&code.len()) {
        return None;
    }
    code.bytes().all(|b| b.is_ascii_lowercase()).then_some(code)
}

/// `KEY=value` lines (shell-style files: /etc/default/locale, keyboard,
/// locale.conf, vconsole.conf, AccountsService). Pure.
pub fn shell_vars(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("export ").unwrap_or(l);
            let (k, v) = l.split_once('=')?;
            (!k.starts_with('#')).then(|| {
                (
                    k.trim().to_string(),
                    v.trim().trim_matches('"').trim_matches('\'').to_string(),
                )
            })
        })
        .collect()
}

/// XKB layout codes of a comma list (`us,kr(kr104)` → `us`, `kr`). Pure.
pub fn xkb_layouts(list: &str) -> Vec<String> {
    list.split([',', ';'])
        .map(|l| {
            l.split('(')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|l| !l.is_empty() && l.len() <= 16 && l.bytes().all(|b| b.is_ascii_alphanumeric()))
        .collect()
}

/// The layouts an xorg.conf(.d) file sets (`Option "XkbLayout" "us,kr"`). Pure.
pub fn xorg_layouts(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("Option")?.trim();
            let (key, value) = rest.split_once(char::is_whitespace)?;
            key.trim_matches('"')
                .eq_ignore_ascii_case("XkbLayout")
                .then(|| xkb_layouts(value.trim().trim_matches('"')))
        })
        .flatten()
        .collect()
}

/// Input method names enabled in an fcitx5 `profile` (`Name=hangul` in
/// `[Groups/N/Items/M]`) or fcitx4's `EnabledIMList=hangul:True,...`. Pure.
pub fn fcitx_profile_methods(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_item = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_item = line.contains("/Items/");
            continue;
        }
        if let Some(name) = line.strip_prefix("Name=").filter(|_| in_item) {
            out.push(name.trim().to_string());
        }
        if let Some(list) = line.strip_prefix("EnabledIMList=") {
            out.extend(list.split(',').filter_map(|e| {
                let (name, on) = e.rsplit_once(':')?;
                on.eq_ignore_ascii_case("true")
                    .then(|| name.trim().to_string())
            }));
        }
    }
    out
}

/// The language an input method engine name implies when no engine file
/// says (fcitx and ibus engine names). Pure.
pub fn language_of_engine(name: &str) -> Option<&'static str> {
    let n = name.to_ascii_lowercase();
    if let Some(layout) = n
        .strip_prefix("keyboard-")
        .or_else(|| n.strip_prefix("xkb:"))
    {
        return match layout.split([':', '-']).next().unwrap_or("") {
            "kr" => Some("ko"),
            "cn" | "tw" => Some("zh"),
            "jp" => Some("ja"),
            "ru" => Some("ru"),
            _ => None,
        };
    }
    const TABLE: &[(&str, &str)] = &[
        ("hangul", "ko"),
        ("pinyin", "zh"),
        ("shuangpin", "zh"),
        ("wubi", "zh"),
        ("rime", "zh"),
        ("chewing", "zh"),
        ("cangjie", "zh"),
        ("sunpinyin", "zh"),
        ("googlepinyin", "zh"),
        ("libpinyin", "zh"),
        ("mozc", "ja"),
        ("anthy", "ja"),
        ("kkc", "ja"),
        ("skk", "ja"),
        ("unikey", "vi"),
        ("bamboo", "vi"),
    ];
    TABLE
        .iter()
        .find(|(k, _)| {
            n == *k || n.starts_with(&format!("{k}-")) || n.starts_with(&format!("{k}:"))
        })
        .map(|(_, l)| *l)
}

/// (engine name, language) of an ibus component XML (`<engine><name>` and
/// `<language>`). Pure; only the tags it needs are read.
pub fn ibus_component_engines(text: &str) -> Vec<(String, String)> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut out = Vec::new();
    let (mut in_engine, mut field, mut name, mut lang) = (false, "", String::new(), String::new());
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => match e.local_name().into_inner() {
                "engine" => {
                    in_engine = true;
                    name.clear();
                    lang.clear();
                }
                "name" if in_engine => field = "name",
                "language" if in_engine => field = "language",
                _ => field = "",
            },
            Ok(Event::Text(t)) => match field {
                "name" => name.push_str(&t.xml10_content()),
                "language" => lang.push_str(&t.xml10_content()),
                _ => {}
            },
            Ok(Event::End(e)) => {
                field = "";
                if e.local_name().into_inner() == "engine" && in_engine {
                    in_engine = false;
                    out.push((name.trim().to_string(), lang.trim().to_string()));
                }
            }
            Ok(Event::Eof) | Err(_) => return out,
            _ => {}
        }
    }
}

/// `LangCode=` of an fcitx inputmethod .conf. Pure.
pub fn fcitx_engine_language(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix("LangCode="))
        .and_then(language_of_locale)
}

/// Languages (ISO 639-1) of the input sources in macOS's HIToolbox
/// preferences: (layout names, input method bundle ids). Pure.
pub fn hitoolbox_sources(plist: &plist::Value) -> (Vec<String>, Vec<String>) {
    let (mut layouts, mut methods) = (Vec::new(), Vec::new());
    let dict = plist.as_dictionary();
    for key in ["AppleEnabledInputSources", "AppleSelectedInputSources"] {
        let Some(list) = dict
            .and_then(|d| d.get(key))
            .and_then(plist::Value::as_array)
        else {
            continue;
        };
        for src in list.iter().filter_map(plist::Value::as_dictionary) {
            let get = |k: &str| {
                src.get(k)
                    .and_then(plist::Value::as_string)
                    .map(str::to_string)
            };
            if let Some(name) = get("KeyboardLayout Name") {
                if !layouts.contains(&name) {
                    layouts.push(name);
                }
            }
            if let Some(id) = get("Bundle ID").or_else(|| get("Input Mode")) {
                if id.starts_with("com.apple.inputmethod.") && !methods.contains(&id) {
                    methods.push(id);
                }
            }
        }
    }
    (layouts, methods)
}

fn note(map: &mut BTreeMap<String, Vec<String>>, key: String, place: &str) {
    let places = map.entry(key).or_default();
    if !places.iter().any(|p| p == place) {
        places.push(place.to_string());
    }
}

/// A macOS input method bundle id's language (`com.apple.inputmethod.Korean.2SetKorean`
/// → the catalog's entry for `com.apple.inputmethod.Korean`).
pub fn macos_method_language<'a>(
    id: &str,
    table: &'a BTreeMap<String, Vec<String>>,
) -> Option<&'a [String]> {
    table
        .iter()
        .filter(|(k, _)| k.starts_with("com.apple.inputmethod."))
        .find(|(k, _)| id == k.as_str() || id.starts_with(&format!("{k}.")))
        .map(|(_, v)| v.as_slice())
}

/// Reads every source. `homes` are the users' home directories;
/// `macos_layouts` maps macOS layout names and input method ids to languages.
pub fn read(
    root: &HostRoot,
    homes: &[String],
    macos_layouts: &BTreeMap<String, Vec<String>>,
    warnings: &mut Vec<String>,
) -> Setup {
    let mut s = Setup::default();
    let read_text = |path: &str, warnings: &mut Vec<String>| -> Option<String> {
        match root.read_string_capped(path, SMALL) {
            Ok(t) => Some(t),
            Err(e) if e.is_not_found() => None,
            Err(e) => {
                warnings.push(e.to_string());
                None
            }
        }
    };

    // Time zone: the link, else Debian's /etc/timezone.
    if let Some(zone) = root
        .read_link("/etc/localtime")
        .ok()
        .and_then(|t| zone_of_link(&t))
    {
        s.timezone = Some((zone, "/etc/localtime".into()));
    } else if let Some(text) = read_text("/etc/timezone", warnings) {
        let zone = text.lines().next().unwrap_or("").trim().to_string();
        if valid_zone(&zone) {
            s.timezone = Some((zone, "/etc/timezone".into()));
        }
    }
    for tab in [
        "/usr/share/zoneinfo/zone.tab",
        "/usr/share/zoneinfo/zone1970.tab",
    ] {
        if let Ok(text) = root.read_string_capped(tab, 1 << 20) {
            for (zone, countries) in parse_zone_tab(&text) {
                let entry = s.zone_countries.entry(zone).or_default();
                for c in countries {
                    if !entry.contains(&c) {
                        entry.push(c);
                    }
                }
            }
        }
    }

    // Languages: the system locale files, AccountsService, per-user files.
    let mut locale_files: Vec<String> =
        vec!["/etc/default/locale".into(), "/etc/locale.conf".into()];
    for home in homes {
        locale_files.push(join(home, ".config/locale.conf"));
    }
    for f in &locale_files {
        if let Some(text) = read_text(f, warnings) {
            s.locale_read = true;
            let vars = shell_vars(&text);
            for key in ["LANG", "LANGUAGE", "LC_MESSAGES", "LC_ALL"] {
                for part in vars.get(key).map(String::as_str).unwrap_or("").split(':') {
                    if let Some(l) = language_of_locale(part) {
                        note(&mut s.languages, l, f);
                    }
                }
            }
        }
    }
    let ibus = ibus_engines(root, warnings);
    // AccountsService: each user's language and keyboard layouts.
    let accounts_dir = "/var/lib/AccountsService/users";
    let mut users = root.list_dir(accounts_dir, 1024).unwrap_or_default();
    users.sort();
    for user in users {
        let f = join(accounts_dir, &user);
        if let Some(text) = read_text(&f, warnings) {
            let vars = shell_vars(&text);
            if let Some(l) = vars.get("Language").and_then(|v| language_of_locale(v)) {
                s.locale_read = true;
                note(&mut s.languages, l, &f);
            }
            if let Some(list) = vars.get("XKeyboardLayouts") {
                s.keyboard_read = true;
                for l in xkb_layouts(list) {
                    note(&mut s.layouts, l, &f);
                }
            }
            // GNOME's input sources, as gnome-settings-daemon mirrors them.
            let (layouts, engines) = accounts_input_sources(&text);
            if !layouts.is_empty() || !engines.is_empty() {
                s.keyboard_read = true;
            }
            for l in layouts {
                note(&mut s.layouts, l, &f);
            }
            for e in engines {
                let lang = ibus
                    .iter()
                    .find(|(_, name, _)| *name == e)
                    .and_then(|(_, _, lang)| language_of_locale(lang))
                    .or_else(|| language_of_engine(&e).map(str::to_string));
                if let Some(lang) = lang {
                    note(&mut s.methods_configured, lang, &format!("{f} (ibus {e})"));
                }
            }
        }
    }
    // macOS: the system's and each user's global preferences.
    let mut mac_globals = vec!["/Library/Preferences/.GlobalPreferences.plist".to_string()];
    mac_globals.extend(
        homes
            .iter()
            .map(|h| join(h, "Library/Preferences/.GlobalPreferences.plist")),
    );
    for f in &mac_globals {
        let Ok(bytes) = root.read_capped(f, 4 << 20) else {
            continue;
        };
        let Ok(value) = crate::host::plists::parse(&bytes) else {
            warnings.push(format!("{f}: not a property list"));
            continue;
        };
        let dict = value.as_dictionary();
        let langs = dict
            .and_then(|d| d.get("AppleLanguages"))
            .and_then(plist::Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(plist::Value::as_string)
                    .take(8)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let locale = dict
            .and_then(|d| d.get("AppleLocale"))
            .and_then(plist::Value::as_string);
        for l in langs
            .into_iter()
            .chain(locale)
            .filter_map(language_of_locale)
        {
            s.locale_read = true;
            note(&mut s.languages, l, f);
        }
    }

    // Keyboard layouts: console/X defaults, xorg.conf.d, KDE.
    for f in ["/etc/default/keyboard", "/etc/vconsole.conf"] {
        if let Some(text) = read_text(f, warnings) {
            if let Some(list) = shell_vars(&text).get("XKBLAYOUT") {
                s.keyboard_read = true;
                for l in xkb_layouts(list) {
                    note(&mut s.layouts, l, f);
                }
            }
        }
    }
    let xorg_dir = "/etc/X11/xorg.conf.d";
    let mut xorg = root.list_dir(xorg_dir, 256).unwrap_or_default();
    xorg.sort();
    for name in xorg.iter().filter(|n| n.ends_with(".conf")) {
        let f = join(xorg_dir, name);
        if let Some(text) = read_text(&f, warnings) {
            for l in xorg_layouts(&text) {
                s.keyboard_read = true;
                note(&mut s.layouts, l, &f);
            }
        }
    }
    for home in homes {
        let f = join(home, ".config/kxkbrc");
        if let Some(text) = read_text(&f, warnings) {
            if let Some(list) = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("LayoutList="))
            {
                s.keyboard_read = true;
                for l in xkb_layouts(list) {
                    note(&mut s.layouts, l, &f);
                }
            }
        }
        // macOS input sources: layouts and input methods in one list.
        let f = join(home, "Library/Preferences/com.apple.HIToolbox.plist");
        if let Ok(bytes) = root.read_capped(&f, 4 << 20) {
            match crate::host::plists::parse(&bytes) {
                Ok(v) => {
                    s.keyboard_read = true;
                    let (layouts, methods) = hitoolbox_sources(&v);
                    for l in layouts {
                        note(&mut s.layouts, l, &f);
                    }
                    for m in methods {
                        for lang in macos_method_language(&m, macos_layouts).unwrap_or(&[]) {
                            note(
                                &mut s.methods_configured,
                                lang.clone(),
                                &format!("{f} ({m})"),
                            );
                        }
                    }
                }
                Err(_) => warnings.push(format!("{f}: not a property list")),
            }
        }
        // fcitx5 and fcitx4 profiles: the input methods a user enabled.
        for profile in [".config/fcitx5/profile", ".config/fcitx/profile"] {
            let f = join(home, profile);
            if let Some(text) = read_text(&f, warnings) {
                for m in fcitx_profile_methods(&text) {
                    if let Some(lang) = installed_engine_language(root, &m)
                        .or_else(|| language_of_engine(&m).map(str::to_string))
                    {
                        note(&mut s.methods_configured, lang, &format!("{f} ({m})"));
                    }
                }
            }
        }
    }

    // Installed input method engines: ibus components (not the generic
    // xkb layouts of simple.xml), fcitx5 and fcitx4 input methods.
    for (f, engine, lang) in ibus.iter().filter(|(f, ..)| !f.ends_with("/simple.xml")) {
        let lang =
            language_of_locale(lang).or_else(|| language_of_engine(engine).map(str::to_string));
        if let Some(l) = lang {
            note(&mut s.methods_installed, l, &format!("{f} ({engine})"));
        }
    }
    for dir in [
        "/usr/share/fcitx5/inputmethod",
        "/usr/share/fcitx/inputmethod",
    ] {
        let mut confs = root.list_dir(dir, MAX_ENGINES).unwrap_or_default();
        confs.sort();
        for name in confs.iter().filter(|n| n.ends_with(".conf")) {
            let f = join(dir, name);
            let engine = name.trim_end_matches(".conf");
            if engine.starts_with("keyboard") {
                continue;
            }
            if let Some(text) = read_text(&f, warnings) {
                let lang = fcitx_engine_language(&text)
                    .or_else(|| language_of_engine(engine).map(str::to_string));
                if let Some(l) = lang {
                    note(&mut s.methods_installed, l, &f);
                }
            }
        }
    }
    s
}

/// The `[InputSourceN]` sections of an AccountsService user file, where
/// GNOME keeps a copy of the user's input sources: (`xkb=` layouts,
/// `ibus=` engines). Pure.
pub fn accounts_input_sources(text: &str) -> (Vec<String>, Vec<String>) {
    let (mut layouts, mut engines) = (Vec::new(), Vec::new());
    let mut in_source = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_source = line.starts_with("[InputSource");
            continue;
        }
        if !in_source {
            continue;
        }
        if let Some(v) = line.strip_prefix("xkb=") {
            layouts.extend(xkb_layouts(v.split('+').next().unwrap_or("")));
        } else if let Some(v) = line.strip_prefix("ibus=") {
            let v = v.trim();
            if !v.is_empty() && v.len() <= 64 {
                engines.push(v.to_string());
            }
        }
    }
    (layouts, engines)
}

/// (component file, engine, language) of every installed ibus component,
/// read once for both the installed engines and the engines a user chose.
fn ibus_engines(root: &HostRoot, warnings: &mut Vec<String>) -> Vec<(String, String, String)> {
    let dir = "/usr/share/ibus/component";
    let mut comps = root.list_dir(dir, MAX_ENGINES).unwrap_or_default();
    comps.sort();
    let mut out = Vec::new();
    for name in comps.iter().filter(|n| n.ends_with(".xml")) {
        let f = join(dir, name);
        match root.read_string_capped(&f, SMALL) {
            Ok(text) => out.extend(
                ibus_component_engines(&text)
                    .into_iter()
                    .map(|(engine, lang)| (f.clone(), engine, lang)),
            ),
            Err(e) if e.is_not_found() => {}
            Err(e) => warnings.push(e.to_string()),
        }
    }
    out
}

/// The language an installed fcitx5 engine file gives an engine name.
fn installed_engine_language(root: &HostRoot, engine: &str) -> Option<String> {
    if engine.is_empty() || engine.contains('/') || engine.starts_with('.') {
        return None;
    }
    [
        "/usr/share/fcitx5/inputmethod",
        "/usr/share/fcitx/inputmethod",
    ]
    .iter()
    .find_map(|dir| {
        let text = root
            .read_string_capped(&join(dir, &format!("{engine}.conf")), SMALL)
            .ok()?;
        fcitx_engine_language(&text)
    })
}

/// Languages of configured items, with those the assignment allows taken
/// out: what remains is drift. `languages_of` maps an item to languages
/// (None: the item says nothing, so it is no drift).
pub fn drift<'a>(
    items: &'a BTreeMap<String, Vec<String>>,
    allowed: &BTreeSet<String>,
    languages_of: &dyn Fn(&str) -> Option<Vec<String>>,
) -> Vec<(&'a str, Vec<String>, &'a [String])> {
    items
        .iter()
        .filter_map(|(item, places)| {
            let langs = languages_of(item)?;
            (!langs.is_empty() && langs.iter().all(|l| !allowed.contains(l))).then_some((
                item.as_str(),
                langs,
                places.as_slice(),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn time_zones() {
        assert_eq!(
            zone_of_link("../usr/share/zoneinfo/Asia/Seoul").as_deref(),
            Some("Asia/Seoul")
        );
        assert_eq!(
            zone_of_link("/var/db/timezone/zoneinfo/America/New_York").as_deref(),
            Some("America/New_York")
        );
        assert_eq!(
            zone_of_link("/usr/share/zoneinfo/posix/Etc/UTC").as_deref(),
            Some("Etc/UTC")
        );
        assert_eq!(zone_of_link("/usr/share/zoneinfo/../../etc/shadow"), None);
        assert_eq!(zone_of_link("/etc/shadow"), None);
        let tab = parse_zone_tab("# comment\nKR\t+3733+12658\tAsia/Seoul\nUS\t+404251-0740023\tAmerica/New_York\tEastern (most areas)\nCA,US\t+1\tAmerica/Toronto\n");
        assert_eq!(tab["Asia/Seoul"], ["KR"]);
        assert_eq!(tab["America/Toronto"], ["CA", "US"]);
    }

    #[test]
    fn locales_and_layouts() {
        assert_eq!(language_of_locale("ko_KR.UTF-8").as_deref(), Some("ko"));
        assert_eq!(language_of_locale("\"en_US.UTF-8\"").as_deref(), Some("en"));
        assert_eq!(language_of_locale("zh-Hans-CN").as_deref(), Some("zh"));
        assert_eq!(language_of_locale("C.UTF-8"), None);
        assert_eq!(language_of_locale("POSIX"), None);
        assert_eq!(language_of_locale("../../x"), None);
        let vars = shell_vars("# x\nLANG=\"ko_KR.UTF-8\"\nexport LANGUAGE=ko:en\n");
        assert_eq!(vars["LANG"], "ko_KR.UTF-8");
        assert_eq!(vars["LANGUAGE"], "ko:en");
        assert_eq!(xkb_layouts("us,kr(kr104)"), ["us", "kr"]);
        assert_eq!(
            xorg_layouts("Section \"InputClass\"\n  Option \"XkbLayout\" \"us,ru\"\nEndSection\n"),
            ["us", "ru"]
        );
    }

    #[test]
    fn input_methods() {
        let profile = "[Groups/0]\nName=Default\nDefault Layout=us\n\n[Groups/0/Items/0]\nName=keyboard-us\nLayout=\n\n[Groups/0/Items/1]\nName=hangul\nLayout=\n\n[GroupOrder]\n0=Default\n";
        assert_eq!(fcitx_profile_methods(profile), ["keyboard-us", "hangul"]);
        assert_eq!(
            fcitx_profile_methods(
                "[Profile]\nEnabledIMList=fcitx-keyboard-us:True,sunpinyin:True,mozc:False\n"
            ),
            ["fcitx-keyboard-us", "sunpinyin"]
        );
        assert_eq!(language_of_engine("hangul"), Some("ko"));
        assert_eq!(language_of_engine("keyboard-us"), None);
        assert_eq!(language_of_engine("keyboard-kr-kr104"), Some("ko"));
        assert_eq!(language_of_engine("mozc-jp"), Some("ja"));
        assert_eq!(language_of_engine("something"), None);
        let xml = "<?xml version=\"1.0\"?><component><name>org.freedesktop.IBus.Hangul</name><engines><engine><name>hangul</name><language>ko</language><layout>kr</layout></engine></engines></component>";
        assert_eq!(
            ibus_component_engines(xml),
            [("hangul".to_string(), "ko".to_string())]
        );
        assert_eq!(
            fcitx_engine_language("[InputMethod]\nName=Hangul\nLangCode=ko\n").as_deref(),
            Some("ko")
        );
    }

    #[test]
    fn gnome_input_sources_in_accounts_service() {
        let text = "[User]\nLanguage=en_US.UTF-8\nXSession=ubuntu\n\n[InputSource0]\nxkb=us\n\n[InputSource1]\nxkb=kr+kr104\n\n[InputSource2]\nibus=hangul\n";
        let (layouts, engines) = accounts_input_sources(text);
        assert_eq!(layouts, ["us", "kr"]);
        assert_eq!(engines, ["hangul"]);
        assert_eq!(accounts_input_sources("[User]\nxkb=ru\n"), (vec![], vec![]));
    }

    #[test]
    fn macos_input_sources() {
        let mut d = plist::Dictionary::new();
        let src = |pairs: &[(&str, &str)]| {
            let mut s = plist::Dictionary::new();
            for (k, v) in pairs {
                s.insert(k.to_string(), plist::Value::String(v.to_string()));
            }
            plist::Value::Dictionary(s)
        };
        d.insert(
            "AppleEnabledInputSources".into(),
            plist::Value::Array(vec![
                src(&[
                    ("InputSourceKind", "Keyboard Layout"),
                    ("KeyboardLayout Name", "U.S."),
                ]),
                src(&[
                    ("InputSourceKind", "Keyboard Input Method"),
                    ("Bundle ID", "com.apple.inputmethod.Korean"),
                ]),
                src(&[
                    ("InputSourceKind", "Input Mode"),
                    ("Bundle ID", "com.apple.inputmethod.Korean"),
                    ("Input Mode", "com.apple.inputmethod.Korean.2SetKorean"),
                ]),
            ]),
        );
        let (layouts, methods) = hitoolbox_sources(&plist::Value::Dictionary(d));
        assert_eq!(layouts, ["U.S."]);
        assert_eq!(methods, ["com.apple.inputmethod.Korean"]);
        let mut table = BTreeMap::new();
        table.insert(
            "com.apple.inputmethod.Korean".to_string(),
            vec!["ko".to_string()],
        );
        assert_eq!(
            macos_method_language("com.apple.inputmethod.Korean.2SetKorean", &table),
            Some(&["ko".to_string()][..])
        );
        assert_eq!(
            macos_method_language("com.apple.inputmethod.Koreanx", &table),
            None
        );
    }

    #[test]
    fn drift_leaves_out_allowed_and_unknown() {
        let mut items = BTreeMap::new();
        items.insert("us".to_string(), vec!["/etc/default/keyboard".to_string()]);
        items.insert("kr".to_string(), vec!["/etc/default/keyboard".to_string()]);
        items.insert("zz".to_string(), vec!["x".to_string()]);
        let allowed: BTreeSet<String> = ["en".to_string()].into();
        let map = |l: &str| match l {
            "us" => Some(vec!["en".to_string()]),
            "kr" => Some(vec!["ko".to_string()]),
            _ => None,
        };
        let d = drift(&items, &allowed, &map);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].0, "kr");
    }
}
