//! The generator's vocabulary: names, companies, industries, titles, countries, email
//! domains, pages, forms, webinars and time zones, with realistic weights.

pub(super) const FIRST: &[&str] = &[
    "Alice", "Bob", "Carla", "Deepak", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi",
    "Lena", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera",
    "Wei", "Ximena", "Yusuf", "Zoe",
];
pub(super) const LAST: &[&str] = &[
    "Anderson", "Becker", "Chen", "Dubois", "Eriksen", "Fischer", "Garcia", "Hughes", "Ito",
    "Jensen", "Kowalski", "Lopez", "Moreau", "Nakamura", "Okafor", "Patel", "Rossi", "Schmidt",
    "Tanaka", "Usman", "Varga", "Weber", "Yilmaz", "Zhang",
];
pub(super) const CO_A: &[&str] = &[
    "Acme",
    "Northwind",
    "Globex",
    "Initech",
    "Umbrella",
    "Vandelay",
    "Stark",
    "Wayne",
    "Hooli",
    "Pied",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
    "Aperture",
    "Wonka",
    "Gringotts",
];
pub(super) const CO_B: &[&str] = &[
    "Labs",
    "Systems",
    "Analytics",
    "Logistics",
    "Health",
    "Foods",
    "Capital",
    "Robotics",
    "Media",
    "Energy",
    "Retail",
    "Software",
];
pub(super) const INDUSTRIES: &[(u32, &str)] = &[
    (22, "COMPUTER_SOFTWARE"),
    (12, "INFORMATION_TECHNOLOGY_AND_SERVICES"),
    (10, "MARKETING_AND_ADVERTISING"),
    (9, "FINANCIAL_SERVICES"),
    (8, "HOSPITAL_HEALTH_CARE"),
    (8, "RETAIL"),
    (7, "MANUFACTURING"),
    (6, "EDUCATION_MANAGEMENT"),
    (5, "LOGISTICS_AND_SUPPLY_CHAIN"),
    (5, "REAL_ESTATE"),
    (4, "NONPROFIT_ORGANIZATION_MANAGEMENT"),
    (4, "CONSTRUCTION"),
];
pub(super) const TITLES: &[(u32, &str)] = &[
    (4, "CEO"),
    (3, "CTO"),
    (3, "Founder"),
    (6, "VP Marketing"),
    (5, "Head of Growth"),
    (10, "Marketing Manager"),
    (6, "Demand Generation Manager"),
    (6, "Sales Director"),
    (8, "Account Executive"),
    (10, "Software Engineer"),
    (6, "Product Manager"),
    (5, "Operations Manager"),
    (4, "Office Manager"),
    (5, "Consultant"),
    (4, "Student"),
    (3, "Intern"),
    (4, "Data Analyst"),
    (3, "CFO"),
];
pub(super) const COUNTRIES: &[(u32, &str)] = &[
    (38, "United States"),
    (10, "United Kingdom"),
    (8, "Germany"),
    (8, "India"),
    (6, "Canada"),
    (6, "France"),
    (4, "Australia"),
    (4, "Brazil"),
    (3, "Netherlands"),
    (3, "Spain"),
    (3, "Sweden"),
    (2, "Japan"),
    (2, "Nigeria"),
    (3, "Mexico"),
];
pub(super) const FREEMAIL: &[&str] = &[
    "gmail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "icloud.com",
    "gmx.de",
    "proton.me",
];
pub(super) const STUDENT: &[&str] = &[
    "mit.edu",
    "stanford.edu",
    "ox.ac.uk",
    "tum.de",
    "iitb.ac.in",
    "utoronto.ca",
];
pub(super) const COMPETITORS: &[&str] = &[
    "marketo.com",
    "pardot.com",
    "activecampaign.com",
    "mailchimp.com",
];
pub(super) const PAGES: &[(u32, &str)] = &[
    (20, "/pricing"),
    (25, "/"),
    (12, "/product"),
    (10, "/blog/lead-scoring-101"),
    (8, "/customers"),
    (8, "/integrations/hubspot"),
    (6, "/docs/getting-started"),
    (5, "/careers"),
    (6, "/about"),
];
pub(super) const FORMS: &[(u32, &str)] = &[
    (25, "Demo request"),
    (30, "Newsletter signup"),
    (25, "Ebook: The Lead Scoring Playbook"),
    (20, "Contact us"),
];
pub(super) const WEBINARS: &[&str] = &[
    "Scoring that sales trusts",
    "From MQL to revenue",
    "HubSpot automation deep dive",
];
pub(crate) const TIME_ZONES: &[(&str, i64)] = &[
    ("US/Eastern", -5 * 3_600_000),
    ("US/Pacific", -8 * 3_600_000),
    ("Europe/London", 0),
    ("Europe/Berlin", 3_600_000),
    ("Asia/Kolkata", 19_800_000),
    ("Australia/Sydney", 10 * 3_600_000),
];
