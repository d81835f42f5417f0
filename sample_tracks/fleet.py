"""Companies, officers, drivers and vehicles of the sample city.

Check digits are computed here (not imported from ``registry``) so that the
sample data is an independent test of the registry's validators.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

DISTRICTS = [
    ("370202", "市南区"), ("370203", "市北区"), ("370211", "黄岛区"), ("370212", "崂山区"),
    ("370213", "李沧区"), ("370214", "城阳区"), ("370215", "即墨区"), ("370281", "胶州市"),
    ("370283", "平度市"), ("370285", "莱西市"),
]

# --- check digits ------------------------------------------------------------
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
VIN_CHARS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
VIN_VALUES = {**{str(d): d for d in range(10)},
              **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
              **dict(zip("JKLMN", range(1, 6), strict=True)), "P": 7, "R": 9,
              **dict(zip("STUVWXYZ", range(2, 10), strict=True))}
VIN_WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]


def uscc_check(body17: str) -> str:
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(body17, USCC_WEIGHTS, strict=True))
    return USCC_CHARS[(31 - total % 31) % 31]


def id_check(body17: str) -> str:
    return "10X98765432"[sum(int(c) * w for c, w in zip(body17, ID_WEIGHTS, strict=True)) % 11]


def vin_check(vin: str) -> str:
    total = sum(VIN_VALUES[c] * w for c, w in zip(vin, VIN_WEIGHTS, strict=True))
    return "X" if total % 11 == 10 else str(total % 11)


# --- people ------------------------------------------------------------------
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段"  # noqa: E501
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰志红建国文辉鹏飞宇浩然海峰立新春雷晓东振华德胜永庆凤云金宝"  # noqa: E501
MOBILE_PREFIXES = ["133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
                   "158", "159", "176", "177", "180", "182", "185", "186", "187", "188",
                   "189", "191", "198", "199"]


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def resident_id(rng: random.Random, region: str) -> str:
    born = date(1965, 1, 1) + timedelta(days=rng.randrange(365 * 37))
    body = f"{region}{born:%Y%m%d}{rng.randrange(1, 1000):03d}"
    return body + id_check(body)


def uscc(rng: random.Random, region: str) -> str:
    # 9 = 工商, 1 = 企业; region code; 9-char organisation code (no check recomputed)
    org = "".join(rng.choice(USCC_CHARS) for _ in range(9))
    body = "91" + region + org
    return body + uscc_check(body)


# --- companies ---------------------------------------------------------------
COMPANIES = [
    ("QD-MUCK-01", "青岛城建渣土运输有限公司", "muck_transport", "370213"),
    ("QD-MUCK-02", "青岛西海岸土石方运输有限公司", "muck_transport", "370211"),
    ("QD-MUCK-03", "青岛城阳鑫达渣土运输有限公司", "muck_transport", "370214"),
    ("QD-MUCK-04", "胶州市路通土方工程有限公司", "muck_transport", "370281"),
    ("QD-SCHOOLBUS-01", "青岛市崂山区教育服务中心校车队", "school", "370212"),
    ("QD-SCHOOLBUS-02", "青岛西海岸新区校车服务有限公司", "school", "370211"),
    ("QD-SCHOOLBUS-03", "即墨区平安校车运营有限公司", "school", "370215"),
    ("QD-HAZMAT-01", "青岛港危险货物运输有限公司", "hazardous_goods", "370211"),
    ("QD-HAZMAT-02", "青岛北方化工物流有限公司", "hazardous_goods", "370214"),
    ("QD-COACH-01", "青岛交运集团长途客运有限公司", "coach_operator", "370203"),
    ("QD-COACH-02", "青岛温馨旅游客运有限公司", "coach_operator", "370202"),
    ("QD-FREIGHT-01", "青岛胶州湾物流有限公司", "freight", "370281"),
    ("QD-FREIGHT-02", "青岛前湾港集装箱运输有限公司", "freight", "370211"),
    ("QD-RURAL-01", "平度市城乡客货运输合作社", "rural_transport", "370283"),
    ("QD-RURAL-02", "莱西市农村物流服务有限公司", "rural_transport", "370285"),
]


@dataclass
class Vehicle:
    plate: str
    vin: str
    vehicle_class: str
    company: str
    device_id: str
    home_district: str
    officer: str = ""
    routes: list[str] = field(default_factory=list)
    sites: list[str] = field(default_factory=list)
    permit_until: str = ""
    driver: str = ""


CLASS_COUNTS = {"muck_truck": 60, "school_bus": 25, "hazmat": 20, "coach": 20, "freight": 35,
                "rural_van": 25, "low_speed_truck": 15}
CLASS_COMPANIES = {
    "muck_truck": ["QD-MUCK-01", "QD-MUCK-02", "QD-MUCK-03", "QD-MUCK-04"],
    "school_bus": ["QD-SCHOOLBUS-01", "QD-SCHOOLBUS-02", "QD-SCHOOLBUS-03"],
    "hazmat": ["QD-HAZMAT-01", "QD-HAZMAT-02"],
    "coach": ["QD-COACH-01", "QD-COACH-02"],
    "freight": ["QD-FREIGHT-01", "QD-FREIGHT-02"],
    "rural_van": ["QD-RURAL-01", "QD-RURAL-02"],
    "low_speed_truck": ["QD-RURAL-01", "QD-RURAL-02", "QD-FREIGHT-01"],
}
QUALIFICATION = {"muck_truck": "muck_driver", "school_bus": "school_bus_driver",
                 "hazmat": "hazmat_driver", "coach": "coach_driver", "freight": "freight_driver",
                 "rural_van": "freight_driver", "low_speed_truck": "freight_driver"}
WMI = {"muck_truck": ["LZZ", "LGA", "LFW"], "school_bus": ["LKL", "LZY", "LA9"],
       "hazmat": ["LZZ", "LFW", "LGA"], "coach": ["LKL", "LZY", "LGC"],
       "freight": ["LZZ", "LFW", "LGA", "LEF"], "rural_van": ["LZW", "LSG", "LNB"],
       "low_speed_truck": ["LF3", "LJ1", "LRB"]}
# muck trucks: (district, routes, sites) groups a permit is issued for
MUCK_GROUPS = [
    ("370213", ["route-muck-lc-cy"], ["site-lc-01", "dump-cy-01", "depot-lc-01"]),
    ("370213", ["route-muck-sn-night"], ["site-lc-02", "site-sn-01", "depot-lc-01"]),
    ("370211", ["route-muck-hd"], ["site-hd-01", "dump-hd-01", "depot-hd-01"]),
    ("370214", ["route-muck-lc-cy", "route-muck-cy-jm"],
     ["dump-cy-01", "site-cy-02", "site-jm-01", "depot-lc-01"]),
    ("370281", ["route-muck-jz-pd"], ["site-jz-01", "dump-pd-01"]),
]
BUS_GROUPS = [("370212", "route-bus-ls-01", "QD-SCHOOLBUS-01"),
              ("370214", "route-bus-cy-01", "QD-SCHOOLBUS-01"),
              ("370211", "route-bus-hd-01", "QD-SCHOOLBUS-02"),
              ("370215", "route-bus-jm-01", "QD-SCHOOLBUS-03"),
              ("370281", "route-bus-jz-01", "QD-SCHOOLBUS-03")]
OTHER_HOMES = {"hazmat": ["370211", "370214", "370281"],
               "coach": ["370203", "370202", "370213", "370214", "370211"],
               "freight": ["370281", "370211", "370214", "370283"],
               "rural_van": ["370283", "370285", "370215", "370281"],
               "low_speed_truck": ["370283", "370285", "370215"]}
MUCK_COMPANY = {"370213": "QD-MUCK-01", "370211": "QD-MUCK-02", "370214": "QD-MUCK-03",
                "370281": "QD-MUCK-04"}
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"


def make_vin(rng: random.Random, cls: str) -> str:
    body = rng.choice(WMI[cls]) + "".join(rng.choice(VIN_CHARS) for _ in range(5))
    tail = rng.choice("LMNPRS") + rng.choice("0123456789ABCDEFGH") + f"{rng.randrange(10**6):06d}"
    vin = body + "0" + tail
    return body + vin_check(vin) + tail


def make_plate(rng: random.Random, cls: str, i: int, used: set[str]) -> str:
    while True:
        if cls in ("freight", "hazmat") and i % 9 == 4:
            plate = f"鲁B{rng.randrange(10**4):04d}挂"          # trailer
        elif cls in ("coach", "school_bus", "freight") and i % 8 == 3:
            plate = f"鲁B{rng.randrange(10**5):05d}D"         # new-energy, large vehicle
        elif cls == "rural_van" and i % 8 == 5:
            plate = f"鲁BD{rng.randrange(10**5):05d}"         # new-energy, small vehicle
        else:
            head = rng.choice(PLATE_LETTERS) if rng.random() < 0.5 else str(rng.randrange(10))
            plate = "鲁B" + head + f"{rng.randrange(10**4):04d}"
        if plate not in used:
            used.add(plate)
            return plate


def build(rng: random.Random) -> dict[str, list]:
    companies = []
    for code, name, kind, region in COMPANIES:
        companies.append({
            "code": code, "name": name, "kind": kind, "licence_no": uscc(rng, region),
            "contact": person_name(rng), "phone": mobile(rng), "webhook_url": "",
            "email": f"notice@{code.lower()}.example.cn", "sms": mobile(rng)})
    officers = []
    for code, _name in DISTRICTS:
        for n in (1, 2):
            officers.append({"badge": f"P{code}{n:02d}", "name": person_name(rng),
                             "phone": mobile(rng), "email": f"p{code}{n:02d}@police.example.cn",
                             "role": "officer", "districts": code})
        officers.append({"badge": f"S{code}01", "name": person_name(rng), "phone": mobile(rng),
                         "email": f"s{code}01@police.example.cn", "role": "supervisor",
                         "districts": code})
    officers.append({"badge": "S37020099", "name": person_name(rng), "phone": mobile(rng),
                     "email": "command@police.example.cn", "role": "supervisor",
                     "districts": ";".join(c for c, _ in DISTRICTS)})

    vehicles: list[Vehicle] = []
    plates: set[str] = set()
    n = 0
    for cls, count in CLASS_COUNTS.items():
        for i in range(count):
            n += 1
            v = Vehicle(plate=make_plate(rng, cls, i, plates), vin=make_vin(rng, cls),
                        vehicle_class=cls, company="", device_id=f"qd-{n:04d}",
                        home_district="")
            if cls == "muck_truck":
                home, routes, sites = MUCK_GROUPS[i % len(MUCK_GROUPS)]
                v.home_district, v.routes, v.sites = home, list(routes), list(sites)
                v.company = MUCK_COMPANY[home]
            elif cls == "school_bus":
                home, route, company = BUS_GROUPS[i % len(BUS_GROUPS)]
                v.home_district, v.routes, v.company = home, [route], company
            else:
                v.home_district = OTHER_HOMES[cls][i % len(OTHER_HOMES[cls])]
                v.company = CLASS_COMPANIES[cls][i % len(CLASS_COMPANIES[cls])]
            v.officer = f"P{v.home_district}{1 + i % 2:02d}"
            v.permit_until = f"2027-{1 + rng.randrange(12):02d}-{1 + rng.randrange(28):02d}"
            vehicles.append(v)

    drivers = []
    for v in vehicles:
        region = v.home_district
        driver = resident_id(rng, region)
        quals = [f"{QUALIFICATION[v.vehicle_class]}:{2027 + rng.randrange(4)}-"
                 f"{1 + rng.randrange(12):02d}-{1 + rng.randrange(28):02d}"]
        if v.vehicle_class == "coach" and rng.random() < 0.3:
            quals.append(f"school_bus_driver:2028-{1 + rng.randrange(12):02d}-15")
        drivers.append({"licence_no": driver, "name": person_name(rng), "phone": mobile(rng),
                        "company": v.company, "qualifications": ";".join(quals)})
        v.driver = driver
    # relief drivers without a fixed vehicle
    for i in range(20):
        cls = list(CLASS_COUNTS)[i % 5]
        company = CLASS_COMPANIES[cls][i % len(CLASS_COMPANIES[cls])]
        drivers.append({"licence_no": resident_id(rng, DISTRICTS[i % 10][0]),
                        "name": person_name(rng), "phone": mobile(rng), "company": company,
                        "qualifications": f"{QUALIFICATION[cls]}:2029-06-30"})
    return {"companies": companies, "officers": officers, "drivers": drivers,
            "vehicles": vehicles}
