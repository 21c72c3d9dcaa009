"""A deterministic, realistic demo county: organizations, members, cadres, terms and training.

Everything comes from one seeded random generator and a reference day, so the same
seed and day always build the same county, on SQLite and PostgreSQL alike. Rows go in
with bulk inserts in chunks, or with COPY on PostgreSQL (`Loader`, `bulk_load`), so
100,000 organizations with a year of meetings (54 million attendance rows) take about
ten minutes.
"""

import io
import operator
import queue
import random
import threading
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from branches import access, audit, results, summaries
from branches.models import (
    COMMITTEE_POSTS,
    Attendance,
    AuditEntry,
    Cadre,
    CommitteeTerm,
    Employment,
    Gender,
    Meeting,
    MeetingType,
    Member,
    MemberCategory,
    MemberStatus,
    Organization,
    OrganizationKind,
    Post,
    Role,
    Sector,
    TermLengthRule,
    TrainingRecord,
)
from branches.services import add_years, role_assign

ROOT_CODE = "QS"
COUNTY = "青山县"
CHUNK = 2000

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志海波辉鹏宇浩俊峰晨阳雪梅琳燕飞凯斌"
    "文博思源嘉欣子涵雨泽一鸣春生秋菊冬梅德福永利国庆新民卫东小龙振华爱民淑珍玉珍桂芳丽娟海燕晓东"
)
TOWN_NAMES = [
    "城关",
    "青石",
    "白沙",
    "龙泉",
    "清河",
    "石门",
    "柳林",
    "新集",
    "双桥",
    "黄岭",
    "马鞍",
    "凤山",
    "桃源",
    "金沟",
    "长岗",
    "梅溪",
    "云台",
    "杨庄",
    "高桥",
    "东湖",
]
VILLAGE_WORDS = [
    "河",
    "岭",
    "坪",
    "湾",
    "庄",
    "沟",
    "冲",
    "岗",
    "塘",
    "口",
    "坝",
    "堡",
    "铺",
    "寨",
    "桥",
    "山",
    "洼",
    "店",
    "屯",
    "林",
]
VILLAGE_PREFIX = list("东西南北上下前后大小新老红石青白黄柳杨李张王刘陈高马龙凤桃梅松竹")
ORGAN_UNITS = [
    "县委办公室",
    "县政府办公室",
    "县纪委监委机关",
    "县委组织部",
    "县委宣传部",
    "县委统战部",
    "县委政法委",
    "县发展和改革局",
    "县教育局",
    "县科技局",
    "县工业和信息化局",
    "县公安局",
    "县民政局",
    "县司法局",
    "县财政局",
    "县人力资源和社会保障局",
    "县自然资源局",
    "县生态环境局",
    "县住房和城乡建设局",
    "县交通运输局",
    "县水利局",
    "县农业农村局",
    "县商务局",
    "县文化和旅游局",
    "县卫生健康委员会",
    "县退役军人事务局",
    "县应急管理局",
    "县审计局",
    "县市场监督管理局",
    "县统计局",
    "县医疗保障局",
    "县林业局",
    "县信访局",
    "县机关事务服务中心",
    "县档案馆",
    "县融媒体中心",
    "县供销社",
    "县总工会",
    "团县委",
    "县妇联",
    "县科协",
    "县残联",
    "县税务局",
    "县人民法院",
    "县人民检察院",
]
INSTITUTIONS = [
    "县人民医院",
    "县中医院",
    "县妇幼保健院",
    "县疾病预防控制中心",
    "县图书馆",
    "县文化馆",
    "县广播电视台",
    "县农业技术推广中心",
    "县水利工程管理站",
    "县公路养护中心",
]
SCHOOLS = [
    "县第一中学",
    "县第二中学",
    "县实验中学",
    "县职业中学",
    "县实验小学",
    "县第二小学",
    "县特殊教育学校",
    "县幼儿园",
]
ENTERPRISES = [
    "县城市投资集团有限公司",
    "县交通投资有限公司",
    "县水务集团有限公司",
    "县农业发展投资有限公司",
    "县文化旅游投资有限公司",
    "县供电公司",
    "县粮食储备有限公司",
]
ENTERPRISE_DEPARTMENTS = ["机关", "生产运营", "工程建设", "财务审计", "市场营销", "安全监管", "后勤服务"]
PRIVATE_WORDS = [
    "宏达",
    "恒信",
    "鑫源",
    "华美",
    "顺丰",
    "金山",
    "绿源",
    "盛世",
    "联创",
    "天成",
    "瑞丰",
    "博远",
    "正大",
    "兴业",
    "润通",
    "嘉禾",
    "远航",
    "新星",
    "中和",
    "永昌",
]
PRIVATE_TRADES = [
    "建材有限公司",
    "食品有限公司",
    "物流有限公司",
    "纺织有限公司",
    "机械制造有限公司",
    "电子科技有限公司",
    "农业开发有限公司",
    "商贸有限公司",
]
SOCIAL_ORGS = ["协会", "商会", "促进会", "志愿者协会", "社会工作服务中心", "律师事务所", "会计师事务所", "养老服务中心"]
COURSES = (
    "基层党组织书记示范培训班",
    "新任党支部书记培训班",
    "党务干部业务能力提升培训",
    "党支部标准化规范化建设专题培训",
    "纪检委员履职能力培训",
    "党建工作实务网络培训",
)
ORGANIZERS = ("县委组织部", "县委党校", "县直机关工委", "乡镇党委", "县委宣传部")

DEMO_PASSWORD_SUFFIX = "-qingshan-2026"
BEIJING = ZoneInfo("Asia/Shanghai")
MEETING_BATCH = 3000
COPY_CHUNK = 50000  # lines per COPY statement
PLACES = ("党员活动室", "会议室", "党群服务中心", "村委会议室", "社区党建活动中心", "线上视频会议")
ABSENCE_WEIGHTS = ("official", "official", "sick", "personal", "personal", "other")
MINUTE_POINTS = (
    "传达学习了上级有关会议和文件精神，与会同志结合工作实际进行了交流发言。",
    "通报了上月工作完成情况，研究部署了下一阶段重点任务。",
    "书记对照责任清单逐项检查落实情况，明确了责任人和完成时限。",
    "讨论了入党积极分子培养考察情况，提出了下一步培养意见。",
    "组织党员开展批评与自我批评，查找问题并提出整改措施。",
    "会议要求全体党员发挥先锋模范作用，做好联系服务群众工作。",
    "收缴了本季度党费，通报了党费使用情况。",
    "对照问题清单通报了整改进展，督促按期完成整改。",
)
TOPICS = {
    "general_meeting": ("传达学习上级会议精神", "讨论接收预备党员", "通报支部季度工作", "学习党章党规"),
    "committee_meeting": ("研究本月党建工作安排", "研究党员发展工作", "研究主题党日活动方案", "研究整改落实措施"),
    "group_meeting": ("党小组学习交流", "开展谈心交流", "学习上级文件"),
    "party_lecture": ("书记讲党课：践行初心使命", "党课：加强作风建设", "党课：学习党的光辉历史"),
    "theme_day": ("主题党日：志愿服务进社区", "主题党日：重温入党誓词", "主题党日：参观红色教育基地"),
    "life_meeting": ("年度组织生活会",),
    "democratic_evaluation": ("民主评议党员",),
    "heart_to_heart": ("开展谈心谈话",),
    "study_session": ("集中学习习近平新时代中国特色社会主义思想", "学习《中国共产党支部工作条例》", "专题学习研讨"),
}


@dataclass
class Node:
    obj: Organization
    children: int = 0
    member_target: int = 0
    extra: dict = field(default_factory=dict)


class CountyBuilder:
    def __init__(self, *, orgs, seed, today, with_meetings=True):
        self.target = max(orgs, 12)
        self.rng = random.Random(seed)
        self.today = today
        self.nodes = []
        self.used_names = set()
        self.term_years = {(r.kind, r.sector): r.years for r in TermLengthRule.objects.all()}
        self.code_counter = 0
        self.with_meetings = with_meetings
        self.now = datetime.combine(today, time(20, 0), tzinfo=BEIJING)

    # --- names and dates -------------------------------------------------------------
    def person(self):
        given = self.rng.choice(GIVEN) if self.rng.random() < 0.35 else self.rng.choice(GIVEN) + self.rng.choice(GIVEN)
        return self.rng.choice(SURNAMES) + given

    def day_between(self, start, end):
        span = (end - start).days
        return start + timedelta(days=self.rng.randint(0, max(span, 0)))

    def years_ago(self, years):
        return self.today - timedelta(days=int(365.25 * years))

    # --- the tree --------------------------------------------------------------------
    def add(self, parent, name, kind, sector, members=0, **extra):
        self.code_counter += 1
        if parent is None:
            path, depth = Organization._get_path("", 1, 1), 1
            code = ROOT_CODE
        else:
            parent.children += 1
            depth = parent.obj.depth + 1
            path = Organization._get_path(parent.obj.path, depth, parent.children)
            code = f"{ROOT_CODE}{self.code_counter:06d}"
        founded = self.day_between(date(1978, 1, 1), self.years_ago(2))
        headcount = None
        if kind != OrganizationKind.PARTY_GROUP and sector in (
            Sector.ORGAN,
            Sector.PUBLIC_INSTITUTION,
            Sector.STATE_ENTERPRISE,
            Sector.PRIVATE_ENTERPRISE,
            Sector.SCHOOL,
        ):
            headcount = self.rng.randint(15, 400) if kind == OrganizationKind.BRANCH else self.rng.randint(200, 3000)
        org = Organization(
            path=path,
            depth=depth,
            numchild=0,
            code=code,
            name=name,
            kind=kind,
            sector=sector,
            founded_on=founded,
            staff_headcount=headcount,
        )
        node = Node(org, member_target=members, extra=extra)
        self.nodes.append(node)
        return node

    def full(self):
        return len(self.nodes) >= self.target

    def branch(self, parent, name, sector, low, high):
        """A branch with its members, and party groups when it is large (≥25 members)."""
        size = self.rng.randint(low, high)
        node = self.add(parent, name, OrganizationKind.BRANCH, sector, members=size)
        if size >= 25 and not self.full():
            for number in range(self.rng.randint(2, 3)):
                if self.full():
                    break
                self.add(node, f"第{'一二三四'[number]}党小组", OrganizationKind.PARTY_GROUP, sector)
        return node

    def unique(self, name):
        base, n = name, 1
        while name in self.used_names:
            n += 1
            name = f"{base}（{n}）"
        self.used_names.add(name)
        return name

    def build_tree(self):
        rng = self.rng
        root = self.add(None, f"中共{COUNTY}委员会", OrganizationKind.COMMITTEE, Sector.ORGAN)
        organs = self.add(root, f"中共{COUNTY}直属机关工作委员会", OrganizationKind.COMMITTEE, Sector.ORGAN)
        education = self.add(root, f"中共{COUNTY}教育局委员会", OrganizationKind.PRIMARY_COMMITTEE, Sector.SCHOOL)
        soe = self.add(
            root, f"中共{COUNTY}国有资产监督管理委员会委员会", OrganizationKind.COMMITTEE, Sector.STATE_ENTERPRISE
        )
        private = self.add(
            root,
            f"中共{COUNTY}非公有制经济组织综合委员会",
            OrganizationKind.PRIMARY_COMMITTEE,
            Sector.PRIVATE_ENTERPRISE,
        )
        social = self.add(
            root, f"中共{COUNTY}社会组织综合委员会", OrganizationKind.PRIMARY_COMMITTEE, Sector.SOCIAL_ORGANIZATION
        )
        towns = []
        makers = [
            (0.38, lambda: self.village(root, towns)),
            (0.14, lambda: self.organ_unit(organs)),
            (0.10, lambda: self.school(education)),
            (0.10, lambda: self.enterprise(soe)),
            (0.14, lambda: self.private_branch(private)),
            (0.06, lambda: self.social_branch(social)),
            (0.08, lambda: self.community(root, towns)),
        ]
        weights = [w for w, _ in makers]
        while not self.full():
            rng.choices(makers, weights)[0][1]()

    def town(self, root, towns):
        number = len(towns)
        word = TOWN_NAMES[number % len(TOWN_NAMES)] + (
            "" if number < len(TOWN_NAMES) else str(number // len(TOWN_NAMES) + 1)
        )
        town = self.add(root, f"中共{word}镇委员会", OrganizationKind.PRIMARY_COMMITTEE, Sector.VILLAGE, town=word)
        towns.append(town)
        if not self.full():
            self.branch(town, f"中共{word}镇机关支部委员会", Sector.ORGAN, 10, 35)
        return town

    def current_town(self, root, towns):
        if not towns or towns[-1].children >= self.rng.randint(10, 24):
            return self.town(root, towns)
        return towns[-1]

    def village(self, root, towns):
        town = self.current_town(root, towns)
        if self.full():
            return
        name = self.unique(
            f"中共{town.extra['town']}镇{self.rng.choice(VILLAGE_PREFIX)}{self.rng.choice(VILLAGE_WORDS)}村支部委员会"
        )
        self.branch(town, name, Sector.VILLAGE, 12, 50)

    def community(self, root, towns):
        town = self.current_town(root, towns)
        if self.full():
            return
        name = self.unique(
            f"中共{town.extra['town']}镇{self.rng.choice(VILLAGE_PREFIX)}{self.rng.choice(('苑', '园', '街', '坊'))}社区支部委员会"
        )
        self.branch(town, name, Sector.COMMUNITY, 8, 45)

    def organ_unit(self, organs):
        # About one unit in four is a public institution (hospital, library …), the rest government organs.
        if self.rng.random() < 0.25:
            unit, sector = self.rng.choice(INSTITUTIONS), Sector.PUBLIC_INSTITUTION
        else:
            unit, sector = self.rng.choice(ORGAN_UNITS), Sector.ORGAN
        unit = self.unique(unit.replace("县", COUNTY, 1) if unit.startswith("县") else unit)
        if self.rng.random() < 0.2 and self.target - len(self.nodes) > 4:
            general = self.add(organs, f"中共{unit}总支部委员会", OrganizationKind.GENERAL_BRANCH, sector)
            for number in range(self.rng.randint(2, 3)):
                if self.full():
                    break
                self.branch(general, f"中共{unit}第{'一二三'[number]}支部委员会", sector, 6, 30)
        else:
            self.branch(organs, f"中共{unit}支部委员会", sector, 5, 40)

    def school(self, education):
        index = education.children
        if index < len(SCHOOLS):
            name = SCHOOLS[index].replace("县", COUNTY, 1)
        else:
            kind = self.rng.choice(("中心小学", "初级中学", "中心幼儿园", "小学"))
            name = f"{COUNTY}{self.rng.choice(TOWN_NAMES)}镇{kind}"
        self.branch(education, self.unique(f"中共{name}支部委员会"), Sector.SCHOOL, 5, 45)

    def enterprise(self, soe):
        index = soe.children
        company = (
            ENTERPRISES[index].replace("县", COUNTY, 1)
            if index < len(ENTERPRISES)
            else f"{COUNTY}{self.rng.choice(PRIVATE_WORDS)}实业有限公司"
        )
        company = self.unique(company)
        committee = self.add(soe, f"中共{company}委员会", OrganizationKind.PRIMARY_COMMITTEE, Sector.STATE_ENTERPRISE)
        for department in self.rng.sample(ENTERPRISE_DEPARTMENTS, self.rng.randint(2, 4)):
            if self.full():
                break
            self.branch(committee, f"中共{company}{department}支部委员会", Sector.STATE_ENTERPRISE, 5, 40)

    def private_branch(self, private):
        company = self.unique(f"{COUNTY}{self.rng.choice(PRIVATE_WORDS)}{self.rng.choice(PRIVATE_TRADES)}")
        self.branch(private, f"中共{company}支部委员会", Sector.PRIVATE_ENTERPRISE, 3, 15)

    def social_branch(self, social):
        body = self.unique(f"{COUNTY}{self.rng.choice(PRIVATE_WORDS)}{self.rng.choice(SOCIAL_ORGS)}")
        self.branch(social, f"中共{body}支部委员会", Sector.SOCIAL_ORGANIZATION, 3, 12)

    # --- people ----------------------------------------------------------------------
    def term_length(self, org):
        return self.term_years.get((org.kind, org.sector)) or self.term_years.get((org.kind, ""), 3)

    def members_for(self, node, groups):
        org = node.obj
        members = []
        probationary_share = 0.08
        for _ in range(node.member_target):
            probationary = self.rng.random() < probationary_share
            if probationary:
                joined = self.day_between(self.years_ago(1), self.today - timedelta(days=7))
            else:
                joined = self.day_between(date(1965, 1, 1), self.years_ago(1.2))
            joined_branch = (
                joined if self.rng.random() < 0.6 else self.day_between(joined, self.today - timedelta(days=7))
            )
            members.append(
                Member(
                    organization=org,
                    party_group=self.rng.choice(groups) if groups else None,
                    name=self.person(),
                    gender=Gender.FEMALE if self.rng.random() < 0.3 else Gender.MALE,
                    category=MemberCategory.PROBATIONARY if probationary else MemberCategory.FULL,
                    joined_party_on=joined,
                    joined_branch_on=joined_branch,
                    status=MemberStatus.ACTIVE,
                )
            )
        # A few former members, transferred out, so history is not empty.
        for _ in range(self.rng.randint(0, 2)):
            joined = self.day_between(date(1980, 1, 1), self.years_ago(4))
            members.append(
                Member(
                    organization=org,
                    name=self.person(),
                    gender=Gender.MALE,
                    category=MemberCategory.FULL,
                    joined_party_on=joined,
                    joined_branch_on=joined,
                    status=MemberStatus.TRANSFERRED_OUT,
                    left_on=self.day_between(joined, self.years_ago(0.5)),
                )
            )
        return members

    def committee_for(self, node, members):
        """Posts of an organization, and the start of the committee's current term."""
        org = node.obj
        active_full = [m for m in members if m.status == MemberStatus.ACTIVE and m.category == MemberCategory.FULL]
        years = self.term_length(org)
        # Most committees are inside their term; about one in eight is overdue for election.
        served = self.rng.uniform(0.1, years + 1.2) if self.rng.random() < 0.12 else self.rng.uniform(0.1, years - 0.1)
        started = self.years_ago(served)
        if org.kind == OrganizationKind.BRANCH:
            if len(active_full) >= 7:
                size = self.rng.randint(3, 5)
                posts = [
                    Post.SECRETARY,
                    Post.ORGANIZATION_MEMBER,
                    Post.PUBLICITY_MEMBER,
                    Post.DISCIPLINE_MEMBER,
                    Post.DEPUTY_SECRETARY,
                ][:size]
            else:
                posts = [Post.SECRETARY] + (
                    [Post.DEPUTY_SECRETARY] if self.rng.random() < 0.3 and len(active_full) > 3 else []
                )
            holders = self.rng.sample(active_full, min(len(posts), len(active_full))) if active_full else []
            pairs = list(zip(posts, holders, strict=False))
        else:
            posts = [
                Post.SECRETARY,
                Post.DEPUTY_SECRETARY,
                Post.ORGANIZATION_MEMBER,
                Post.PUBLICITY_MEMBER,
                Post.DISCIPLINE_MEMBER,
            ]
            if org.staff_headcount and org.staff_headcount > 100:
                posts.append(Post.PARTY_AFFAIRS_STAFF)
            pairs = [(post, None) for post in posts]
        head_share = {Sector.VILLAGE: 0.7, Sector.COMMUNITY: 0.5, Sector.PRIVATE_ENTERPRISE: 0.5}.get(org.sector, 0.1)
        cadres = []
        for post, member in pairs:
            full_time = post == Post.PARTY_AFFAIRS_STAFF or (
                org.kind != OrganizationKind.BRANCH and self.rng.random() < 0.4
            )
            cadres.append(
                Cadre(
                    organization=org,
                    member=member,
                    name=member.name if member else self.person(),
                    post=post,
                    employment=Employment.FULL_TIME if full_time else Employment.PART_TIME,
                    also_unit_head=post == Post.SECRETARY and self.rng.random() < head_share,
                    term_start=started,
                )
            )
        # A former secretary from the previous term.
        if self.rng.random() < 0.5:
            before = started - timedelta(days=int(365.25 * years))
            cadres.append(
                Cadre(
                    organization=org,
                    name=self.person(),
                    post=Post.SECRETARY,
                    employment=Employment.PART_TIME,
                    term_start=before,
                    term_end=started - timedelta(days=1),
                )
            )
        term = CommitteeTerm(
            organization=org, started_on=started, length_years=years, expected_election_on=add_years(started, years)
        )
        return cadres, term

    def group_leaders(self, group_node, members):
        in_group = [m for m in members if m.party_group_id == group_node.obj.pk and m.category == MemberCategory.FULL]
        if not in_group:
            return []
        leader = self.rng.choice(in_group)
        return [
            Cadre(
                organization=group_node.obj,
                member=leader,
                name=leader.name,
                post=Post.GROUP_LEADER,
                employment=Employment.PART_TIME,
                term_start=self.day_between(self.years_ago(3), self.years_ago(0.2)),
            )
        ]

    def trainings_for(self, cadres):
        records = []
        for cadre in cadres:
            if cadre.term_end is not None:
                continue
            for _ in range(self.rng.choices((0, 1, 2, 3), (2, 4, 3, 1))[0]):
                records.append(
                    TrainingRecord(
                        cadre=cadre,
                        course=self.rng.choice(COURSES),
                        organizer=self.rng.choice(ORGANIZERS),
                        held_on=self.day_between(self.years_ago(2), self.today - timedelta(days=3)),
                        hours=Decimal(self.rng.choice((4, 8, 12, 16, 24, 32, 40))),
                    )
                )
        return records

    # --- meetings --------------------------------------------------------------------
    def meetings_for(self, branch, members, groups, committee):
        """About a year of a branch's meetings, up to yesterday, in one of four habits.

        Most branches keep every rule; some log late or cram at the end of the period
        (年底突击), some skip meetings, some meet with thin attendance. A 支委会 expects the
        committee's members serving that day (`committee`: their cadres), held only while it serves.
        Returns `(meeting, attendance)` pairs of plain tuples: the meeting's values in `MEETING_COLUMNS`
        order, and one `(member id, present, absence reason)` per member expected.
        """
        has_committee = bool(committee)
        rng = self.rng
        habit = rng.choices(("diligent", "late", "missing", "thin"), (70, 12, 12, 6))[0]
        skip = {"diligent": 0.02, "late": 0.05, "missing": 0.4, "thin": 0.08}[habit]
        turnout = {"diligent": 0.93, "late": 0.9, "missing": 0.85, "thin": 0.5}[habit]
        first = date(self.today.year - 1, self.today.month, 1) + timedelta(days=31)
        first = first.replace(day=1)
        planned = []
        month = first
        while month <= self.today:
            last_day = min(_month_end(month), self.today - timedelta(days=1))
            if last_day >= month:
                monthly = [MeetingType.THEME_DAY] + ([MeetingType.COMMITTEE_MEETING] if has_committee else [])
                monthly += [MeetingType.STUDY_SESSION] * 2
                if month.month % 3 == 2:  # the middle month of a quarter
                    monthly += [MeetingType.GENERAL_MEETING, MeetingType.PARTY_LECTURE]
                if month.month == 12 or (
                    month.month == self.today.month and month.year == self.today.year and month.month >= 11
                ):
                    monthly += [MeetingType.LIFE_MEETING, MeetingType.DEMOCRATIC_EVALUATION, MeetingType.HEART_TO_HEART]
                for meeting_type in monthly:
                    planned.append((meeting_type, None, month, last_day))
                for group in groups:
                    planned.append((MeetingType.GROUP_MEETING, group, month, last_day))
            month = _month_end(month) + timedelta(days=1)

        # Who is on the roll, as plain tuples: this loop runs for tens of millions of attendance rows.
        roll = [(m.pk, m.joined_branch_on, m.left_on, m.party_group_id, m.name) for m in members]
        rand, choice = rng.random, rng.choice
        result = []
        for meeting_type, group, month, last_day in planned:
            if rand() < skip:
                continue
            held_on = self.day_between(month, last_day)
            on_committee = {c.member_id for c in committee if c.is_serving_on(held_on)}
            committee_meeting = meeting_type == MeetingType.COMMITTEE_MEETING
            if committee_meeting and not on_committee:
                continue
            hour, minute = choice(((9, 0), (14, 30), (19, 30), (15, 0)))
            held_at = datetime.combine(held_on, time(hour, minute), tzinfo=BEIJING)
            if habit == "late":
                logged_at = held_at + timedelta(days=rng.randint(20, 80))
            else:
                logged_at = held_at + timedelta(hours=rng.randint(2, 72))
            logged_at = min(logged_at, self.now)
            group_pk = group.pk if group is not None else None
            expected = [
                row
                for row in roll
                if row[1] <= held_on
                and (row[2] is None or row[2] > held_on)
                and (group_pk is None or row[3] == group_pk)
                and (not committee_meeting or row[0] in on_committee)
            ]
            rows = []
            present_count = 0
            for row in expected:
                if rand() < turnout:
                    rows.append((row[0], True, ""))
                    present_count += 1
                else:
                    rows.append((row[0], False, choice(ABSENCE_WEIGHTS)))
            topic = choice(TOPICS[meeting_type])
            place = choice(PLACES)
            host = choice(expected)[4] if expected else ""
            meeting = (
                branch.pk,
                group_pk,
                meeting_type,
                held_at,
                held_on,
                place,
                host,
                topic,
                self.minutes(topic, len(expected), present_count),
                len(expected),
                present_count,
                logged_at,
            )
            result.append((meeting, rows))
        return result

    def minutes(self, topic, expected, present):
        points = self.rng.sample(MINUTE_POINTS, 3)
        return f"会议应到{expected}人，实到{present}人。会议围绕“{topic}”进行。\n" + "\n".join(
            f"{n}. {point}" for n, point in enumerate(points, 1)
        )

    # --- writing ---------------------------------------------------------------------
    def write(self, progress=None):
        for node in self.nodes:
            node.obj.numchild = node.children
        Organization.objects.bulk_create([n.obj for n in self.nodes], batch_size=CHUNK)
        if any(n.obj.pk is None for n in self.nodes):  # backends that do not return ids from bulk inserts
            ids = dict(Organization.objects.filter(code__startswith=ROOT_CODE).values_list("path", "pk"))
            for node in self.nodes:
                node.obj.pk = ids[node.obj.path]

        groups_of = {}
        for node in self.nodes:
            if node.obj.kind == OrganizationKind.PARTY_GROUP:
                groups_of.setdefault(node.obj.path[: -Organization.steplen], []).append(node)

        loader = Loader(BULK_MODELS)
        counts = {"members": 0, "cadres": 0, "trainings": 0, "terms": 0}
        if self.with_meetings:
            counts.update(meetings=0, attendance=0)
        try:
            for start in range(0, len(self.nodes), CHUNK):
                chunk = [n for n in self.nodes[start : start + CHUNK] if n.obj.kind != OrganizationKind.PARTY_GROUP]
                members_by_node = []
                all_members = []
                for node in chunk:
                    groups = [g.obj for g in groups_of.get(node.obj.path, [])]
                    members = self.members_for(node, groups) if node.obj.kind == OrganizationKind.BRANCH else []
                    members_by_node.append((node, members))
                    all_members.extend(members)
                loader.objects(Member, all_members)
                cadres, terms = [], []
                for node, members in members_by_node:
                    node_cadres, term = self.committee_for(node, members)
                    cadres.extend(node_cadres)
                    terms.append(term)
                    for group in groups_of.get(node.obj.path, []):
                        cadres.extend(self.group_leaders(group, members))
                loader.objects(Cadre, cadres)
                trainings = self.trainings_for(cadres)
                loader.objects(TrainingRecord, trainings)
                loader.objects(CommitteeTerm, terms)
                if self.with_meetings:
                    serving = defaultdict(int)
                    committees = defaultdict(list)
                    for cadre in cadres:
                        if cadre.term_end is None and cadre.post in COMMITTEE_POSTS:
                            serving[cadre.organization_id] += 1
                            if cadre.member_id is not None:
                                committees[cadre.organization_id].append(cadre)
                    batch = []
                    for node, members in members_by_node:
                        if node.obj.kind != OrganizationKind.BRANCH:
                            continue
                        groups = [g.obj for g in groups_of.get(node.obj.path, [])]
                        committee = committees[node.obj.pk] if serving[node.obj.pk] >= 3 else []
                        batch.extend(self.meetings_for(node.obj, members, groups, committee))
                        if len(batch) >= MEETING_BATCH:
                            counts["attendance"] += loader.meetings(batch)
                            counts["meetings"] += len(batch)
                            batch = []
                    counts["attendance"] += loader.meetings(batch)
                    counts["meetings"] += len(batch)
                counts["members"] += len(all_members)
                counts["cadres"] += len(cadres)
                counts["trainings"] += len(trainings)
                counts["terms"] += len(terms)
                if progress:
                    progress(min(start + CHUNK, len(self.nodes)), len(self.nodes))
        finally:
            loader.close()
        counts["organizations"] = len(self.nodes)
        return counts


BULK_MODELS = (Member, Cadre, TrainingRecord, CommitteeTerm, Meeting, Attendance)
MEETING_COLUMNS = (
    "organization_id",
    "party_group_id",
    "meeting_type",
    "held_at",
    "held_on",
    "place",
    "host",
    "topic",
    "minutes",
    "expected_count",
    "present_count",
    "logged_at",
)
ATTENDANCE_COLUMNS = ("meeting_id", "member_id", "present", "absence_reason")
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value):
    """One value in PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if type(value) is str:
        return value.translate(COPY_ESCAPES)
    return str(value)  # int, Decimal, date, aware datetime: their str() is what PostgreSQL reads


class Loader:
    """Writes the demo's rows. On PostgreSQL with COPY, the ids drawn from the tables' own sequences
    first (so rows can point at each other before they are written); elsewhere with bulk inserts.

    On PostgreSQL a second thread sends the COPYs on the same connection (so in the same transaction)
    while this one generates the next rows: the server ingests one batch while the next is being made.
    Call `close()` before leaving the transaction. Bulk-loaded rows send no signals: the audit trail
    gets one summary entry for the whole load.
    """

    def __init__(self, models):
        self.copy = connection.vendor == "postgresql"
        self.now = timezone.now()
        self.failure = None
        if not self.copy:
            return
        # Ids are handed out here, not by the server: the connection belongs to the writing thread
        # from now on. No one else can insert into the tables until COMMIT, and the sequences are
        # moved past the ids used before then (`close`).
        self.sequences, self.next_id = {}, {}
        tables = ", ".join(connection.ops.quote_name(model._meta.db_table) for model in models)
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")
            for model in models:
                cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [model._meta.db_table, model._meta.pk.column])
                self.sequences[model] = cursor.fetchone()[0]
                cursor.execute("SELECT nextval(%s)", [self.sequences[model]])
                self.next_id[model] = cursor.fetchone()[0]
        self.queue = queue.Queue(maxsize=2)
        self.writer = threading.Thread(target=self._send, args=(connection.connection,), daemon=True)
        self.writer.start()

    def ids(self, model, count):
        """`count` consecutive fresh ids for `model`."""
        first = self.next_id[model]
        self.next_id[model] = first + count
        return range(first, first + count)

    def _send(self, raw):
        while (job := self.queue.get()) is not None:
            if self.failure is None:
                try:
                    with raw.cursor() as cursor:
                        cursor.copy_expert(*job, size=1 << 20)
                except Exception as error:  # handed to the generating thread, which raises it
                    self.failure = error

    def _check(self):
        if self.failure is not None:
            raise self.failure

    def close(self):
        """Wait for the last COPY and move the sequences past the ids used; raise if a COPY failed."""
        if not self.copy:
            return
        if self.writer.is_alive():
            self.queue.put(None)
            self.writer.join()
        self._check()
        with connection.cursor() as cursor:
            for model, sequence in self.sequences.items():
                # Past the ids handed out here and past any the server drew itself (attendance rows are COPYed
                # without ids): never back, or the next insert would collide with a loaded row.
                table, pk = (connection.ops.quote_name(name) for name in (model._meta.db_table, model._meta.pk.column))
                cursor.execute(
                    f"SELECT setval(%s, GREATEST(%s, (SELECT COALESCE(max({pk}), 0) + 1 FROM {table})), false)",  # noqa: S608
                    [sequence, self.next_id[model]],
                )

    def copy_rows(self, model, columns, lines):
        """COPY text lines (tab-separated, newline-terminated) into `model`'s table, in chunks."""
        self._check()
        quote = connection.ops.quote_name
        sql = f"COPY {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
        for start in range(0, len(lines), COPY_CHUNK):
            self.queue.put((sql, io.StringIO("".join(lines[start : start + COPY_CHUNK]))))

    def objects(self, model, objs):
        """Insert model instances and set their ids."""
        if not objs:
            return
        if not self.copy:
            model.objects.bulk_create(objs, batch_size=CHUNK)
            return
        for obj, pk in zip(objs, self.ids(model, len(objs)), strict=True):
            obj.pk = pk
        fields = model._meta.concrete_fields
        stamped = [f for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)]
        plain = [f for f in fields if f not in stamped]
        values = operator.attrgetter(*(f.attname for f in plain))
        stamp = "".join(f"\t{_copy_text(self.now)}" for _ in stamped) + "\n"
        lines = ["\t".join(map(_copy_text, values(obj))) + stamp for obj in objs]
        self.copy_rows(model, [f.column for f in plain + stamped], lines)

    def meetings(self, batch):
        """Insert meetings, then their attendance rows (which need the meetings' ids). Returns the rows."""
        if not batch:
            return 0
        if not self.copy:
            meetings = [Meeting(**dict(zip(MEETING_COLUMNS, meeting, strict=True))) for meeting, _rows in batch]
            Meeting.objects.bulk_create(meetings, batch_size=CHUNK)
            rows = [
                Attendance(meeting_id=meeting.pk, member_id=member, present=present, absence_reason=reason)
                for meeting, (_values, attendance) in zip(meetings, batch, strict=True)
                for member, present, reason in attendance
            ]
            Attendance.objects.bulk_create(rows, batch_size=5 * CHUNK)
            return len(rows)
        ids = self.ids(Meeting, len(batch))
        stamp = f"\t{_copy_text(self.now)}\n"
        self.copy_rows(
            Meeting,
            ("id", *MEETING_COLUMNS, "updated_at"),
            [
                f"{pk}\t" + "\t".join(map(_copy_text, meeting)) + stamp
                for pk, (meeting, _rows) in zip(ids, batch, strict=True)
            ],
        )
        lines = [
            f"{pk}\t{member}\t{'t' if present else 'f'}\t{reason}\n"
            for pk, (_meeting, attendance) in zip(ids, batch, strict=True)
            for member, present, reason in attendance
        ]
        self.copy_rows(Attendance, ATTENDANCE_COLUMNS, lines)
        return len(lines)


@contextmanager
def bulk_load(models):
    """On PostgreSQL, build the indexes and check the keys of `models`' tables once, after the load.

    Keys are deferred, so every COPYed row would queue one trigger per key until COMMIT (tens of
    millions at province scale), and every row would update every index as it comes. Instead the
    foreign keys, unique constraints and secondary indexes are dropped and added back with their
    own names and definitions in the same transaction: each index is built by one sort, each key
    checked by one join. Nothing outside the transaction ever sees the tables without them, and
    if the load fails they are simply rolled back with it. Primary keys and checks stay.
    """
    if connection.vendor != "postgresql":
        yield
        return
    tables = [model._meta.db_table for model in models]
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT c.conrelid::regclass::text, c.contype, c.conname, pg_get_constraintdef(c.oid)
            FROM pg_constraint c WHERE c.contype IN ('f', 'u') AND c.conrelid = ANY(%s::regclass[])
            ORDER BY c.contype DESC, c.conrelid::regclass::text, c.conname""",
            [tables],
        )
        constraints = cursor.fetchall()  # unique constraints first: they are dropped last, added first
        cursor.execute(
            """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
            WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary
            AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
            ORDER BY 1""",
            [tables],
        )
        indexes = cursor.fetchall()
        quote = connection.ops.quote_name
        # Keys checked at COMMIT may still be queued from rows written earlier in this transaction (a test,
        # or a caller's own atomic block); PostgreSQL alters no table with queued checks: run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        for table, _kind, name, _definition in reversed(constraints):
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {quote(name)}")
        for name, _definition in indexes:
            cursor.execute(f"DROP INDEX {name}")
    yield
    with connection.cursor() as cursor:
        # Sorts for the indexes and hashes for the key checks in memory, for this transaction only.
        cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
        cursor.execute("SET LOCAL work_mem = '256MB'")
        for _name, definition in indexes:
            cursor.execute(definition)
        for table, _kind, name, definition in constraints:
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {quote(name)} {definition}")


def demo_exists():
    return Organization.objects.filter(code=ROOT_CODE).exists()


def _month_end(day):
    following = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return following - timedelta(days=1)


@transaction.atomic
def build_county(*, orgs, seed, today, progress=None, with_meetings=True):
    """Build the demo county unless it is already there. Returns the row counts (empty if it was there)."""
    if demo_exists():
        return {}
    with audit.as_job("seed_demo"):
        builder = CountyBuilder(orgs=orgs, seed=seed, today=today, with_meetings=with_meetings)
        builder.build_tree()
        with bulk_load(BULK_MODELS):
            counts = builder.write(progress)
        # Millions of demo rows are one event: a summary entry, not a row each.
        audit.record_summary(builder.nodes[0].obj, AuditEntry.Action.CREATE, {"rows": counts, "seed": seed})
    summaries.rebuild()  # the meetings were written in bulk: their month summaries are built from them at once
    for year in sorted({today.year, (today - timedelta(days=365)).year}):  # the years the demo has meetings in
        results.rebuild(year=year)
    return counts


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str
    organization: str
    name: str


def _first(queryset):
    return queryset.order_by("path").first()


def ensure_demo_users():
    """One demo user per role, on fixed organizations of the demo county. Idempotent.

    Existing users keep their passwords (someone may have changed them on purpose).
    """
    root = Organization.objects.get(code=ROOT_CODE)
    town = _first(
        Organization.objects.filter(
            path__startswith=root.path, kind=OrganizationKind.PRIMARY_COMMITTEE, sector=Sector.VILLAGE
        )
    )
    village = _first(
        Organization.objects.filter(
            path__startswith=(town or root).path, kind=OrganizationKind.BRANCH, sector=Sector.VILLAGE
        )
    )
    organs = _first(
        Organization.objects.filter(
            depth=2, path__startswith=root.path, kind=OrganizationKind.COMMITTEE, sector=Sector.ORGAN
        )
    )
    organ_branch = _first(
        Organization.objects.filter(path__startswith=(organs or root).path, kind=OrganizationKind.BRANCH)
    )
    plan = [
        ("admin", Role.ADMIN, root, "管理员"),
        ("zuzhibu", Role.REVIEWER, root, "县委组织部"),
        ("zhen", Role.REVIEWER, town, "镇党委组织委员"),
        ("kaohe", Role.ASSESSOR, organs, "考核组"),
        ("shuji", Role.SECRETARY, village, None),
        ("shuji2", Role.SECRETARY, organ_branch, None),
    ]
    User = get_user_model()
    system = access.system_user()
    logins = []
    for username, role, organization, display in plan:
        if organization is None:
            continue
        if display is None:
            secretary = Cadre.objects.filter(
                organization=organization, post=Post.SECRETARY, term_end__isnull=True
            ).first()
            display = secretary.name if secretary else "书记"
        password = f"{username}{DEMO_PASSWORD_SUFFIX}"
        user, created = User.objects.get_or_create(username=username, defaults={"first_name": display})
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
        role_assign(user=user, organization=organization, role=role, by=system)
        logins.append(DemoLogin(username, password, Role(role).label, organization.name, display))
    return logins
