# ruff: noqa: E501  (data tables of Chinese sentences; ruff counts each CJK character as two columns)
"""Write data/sample/corpus.txt: a small Chinese education corpus made for this project.

Passages are lesson summaries, exam-question analyses, answers and study advice across subjects,
assembled from hand-written facts and frames with a fixed seed, so the file is reproducible. Like
real exported data it carries digits, Latin formulas, English words, curly quotes, ellipses,
dashes, stray HTML and entities, a few exact duplicates and a few too-short rows, so the extract
stage's cleaning has real work to do.

    .venv/bin/python scripts/write_sample_corpus.py [--output data/sample/corpus.txt]
"""

import argparse
import random

# subject -> (topic, fact, typical mistake, advice); each a sentence fragment in the teacher's voice.
FACTS = {
    "数学": [
        ("二次函数", "y=ax^2+bx+c 的对称轴是 x=-b/(2a)，当 a>0 时开口向上", "忽略 a 的正负直接判断最值",
         "先配方再画草图"),
        ("等差数列", "通项公式 a_n=a_1+(n-1)d，前 n 项和 S_n=n(a_1+a_n)/2", "把项数 n 和公差 d 混淆",
         "每道题先写出 a_1 和 d"),
        ("三角函数", "sin^2x+cos^2x=1，周期 T=2π/ω", "求周期时忘记除以 ω 的绝对值", "把常用角的值背熟"),
        ("导数", "f(x)=x^3-3x 的导数为 3x^2-3，在 x=±1 处取得极值", "把导数为零的点直接当成极值点",
         "列表判断导数符号的变化"),
        ("概率", "古典概型 P(A)=m/n，两个独立事件同时发生的概率为 P(A)P(B)", "把互斥与独立混为一谈",
         "先判断事件之间的关系"),
        ("立体几何", "正方体的体对角线长为棱长的 √3 倍，球的体积 V=4/3πr^3", "空间想象不到位导致辅助线画错",
         "多动手做模型"),
        ("不等式", "均值不等式 a+b≥2√(ab)（a,b>0），等号在 a=b 时成立", "忘记验证等号成立的条件",
         "最后一步一定写出取等条件"),
        ("向量", "a·b=|a||b|cosθ，两向量垂直当且仅当 a·b=0", "坐标运算时符号出错", "画图辅助理解方向"),
        ("圆锥曲线", "椭圆 x^2/a^2+y^2/b^2=1 中 c^2=a^2-b^2，离心率 e=c/a", "联立方程后不检验判别式",
         "设而不求，善用韦达定理"),
        ("复数", "i^2=-1，复数 z=3+4i 的模为 5", "把虚部写成 4i 而不是 4", "牢记实部虚部的定义"),
    ],
    "物理": [
        ("牛顿第二定律", "F=ma，合外力决定加速度的大小和方向", "受力分析漏掉摩擦力", "先画受力图再列方程"),
        ("动能定理", "合外力做的功等于动能的变化量，W=ΔEk", "把某一个力的功当成合力的功", "明确研究对象和过程"),
        ("欧姆定律", "I=U/R，串联电路电流处处相等", "把电压表当成理想电流表使用", "先判断电路的连接方式"),
        ("电磁感应", "感应电动势 E=BLv，方向用右手定则判断", "左手定则和右手定则用反", "把两个定则的适用场景写在卡片上"),
        ("机械能守恒", "只有重力或弹力做功时机械能守恒", "有摩擦时仍然套用守恒式", "先判断守恒条件"),
        ("平抛运动", "水平方向匀速、竖直方向自由落体，h=1/2gt^2", "把合速度方向当成位移方向", "分解运动各自列式"),
        ("光的折射", "n=sin i/sin r，光从光密介质射向光疏介质可能发生全反射", "入射角与折射角找错",
         "画出法线再标角"),
        ("动量守恒", "系统不受外力或合外力为零时 m1v1+m2v2 保持不变", "忽略速度的方向性", "规定正方向后再代数"),
    ],
    "化学": [
        ("氧化还原反应", "升失氧、降得还，电子转移数目要守恒", "只看得氧失氧而不看化合价", "标出每种元素的化合价"),
        ("化学平衡", "勒夏特列原理：改变条件，平衡向减弱这种改变的方向移动", "把反应速率变化和平衡移动混为一谈",
         "画出 v-t 图辅助分析"),
        ("电解质溶液", "pH=-lg c(H+)，常温下水的离子积 Kw=1×10^-14", "稀释时忽略水的电离", "抓住三个守恒式"),
        ("有机化学", "乙醇 C2H5OH 能与钠反应放出 H2，乙酸 CH3COOH 显酸性", "官能团的性质记混",
         "按官能团整理反应类型"),
        ("物质的量", "n=m/M，标准状况下气体摩尔体积约为 22.4 L/mol", "非标准状况也用 22.4", "先看清条件再代入"),
        ("碳的循环", "光合作用吸收 CO2，燃烧化石燃料释放 CO2", "把 CO 和 CO2 的性质混淆", "对比记忆两种氧化物"),
        ("元素周期律", "同周期从左到右原子半径减小，非金属性增强", "把同主族和同周期的规律弄反", "画出周期表的骨架"),
        ("离子反应", "书写离子方程式时强电解质拆成离子，沉淀、气体、水保留化学式", "把 CaCO3 拆成离子",
         "先判断物质是否可溶"),
    ],
    "生物": [
        ("光合作用", "光反应在类囊体薄膜上进行，暗反应在叶绿体基质中进行", "光反应和暗反应的场所记反",
         "用流程图串起物质变化"),
        ("细胞呼吸", "有氧呼吸三个阶段的场所是细胞质基质和线粒体", "无氧呼吸也写出水的生成", "对照表格记忆"),
        ("遗传定律", "孟德尔分离定律中 Aa 自交后代性状比为 3:1", "把基因型比例和表现型比例混淆", "用棋盘法列出配子"),
        ("DNA 复制", "DNA 复制是半保留复制，需要解旋酶和 DNA 聚合酶", "把转录和复制的模板弄混", "比较三种过程的异同"),
        ("生态系统", "能量流动单向传递、逐级递减，传递效率约 10%~20%", "把能量流动当成可以循环", "画出食物网"),
        ("神经调节", "兴奋在神经元之间通过突触单向传递", "认为兴奋可以在突触处双向传递", "结合突触结构图理解"),
    ],
    "语文": [
        ("文言虚词", "“之”可作代词、助词、动词，“而”表并列、转折、修饰", "脱离语境孤立地解释虚词",
         "把课文中的例句归类整理"),
        ("古诗鉴赏", "借景抒情、托物言志、用典是常考的表现手法", "只写手法名称而不结合诗句分析", "按“手法＋诗句＋情感”作答"),
        ("病句修改", "常见病句类型有语序不当、搭配不当、成分残缺、结构混乱", "凭语感判断而不分析主干",
         "先提取句子主干"),
        ("议论文写作", "论点要鲜明，论据要典型，论证要有层次", "大段堆砌名人事例", "每段开头用分论点句"),
        ("现代文阅读", "概括段意要抓住关键句，分析人物形象要结合细节描写", "答案照抄原文不加概括",
         "先圈关键词再组织语言"),
        ("名句默写", "《劝学》中“青，取之于蓝，而青于蓝”强调学习的重要性", "写错别字失分", "默写时逐字核对"),
    ],
    "英语": [
        ("定语从句", "关系代词 that、which、who 引导定语从句，介词后只能用 which 或 whom", "在介词后误用 that",
         "先找先行词再判断成分"),
        ("时态", "现在完成时 have done 强调对现在的影响，常与 since、for 连用", "和一般过去时混用",
         "画时间轴理解"),
        ("完形填空", "要注意上下文的逻辑关系，如 however、therefore 等连接词", "只看空格所在的句子",
         "通读全文把握大意"),
        ("阅读理解", "主旨题看首尾段，细节题回原文定位", "凭常识而不是原文作答", "标出每段的 topic sentence"),
        ("书面表达", "开头点题，中间分点，结尾呼应，适当使用 not only...but also 等句型", "句式单一、拼写错误多",
         "积累 10 个万能句型"),
        ("非谓语动词", "to do 表目的或将来，doing 表主动或进行，done 表被动或完成", "不判断逻辑主语就选",
         "先找句子的谓语动词"),
    ],
    "历史": [
        ("辛亥革命", "1911 年辛亥革命推翻了清朝统治，结束了两千多年的君主专制制度", "把辛亥革命和戊戌变法的性质混淆",
         "按时间轴梳理近代史"),
        ("工业革命", "第一次工业革命以蒸汽机的广泛使用为标志，始于 18 世纪 60 年代的英国", "两次工业革命的标志记混",
         "列表对比两次工业革命"),
        ("丝绸之路", "西汉张骞出使西域，开辟了连接东西方的丝绸之路", "把张骞和班超的事迹弄混", "结合地图记忆路线"),
        ("改革开放", "1978 年十一届三中全会作出实行改革开放的历史性决策", "时间和会议名称记错", "记住关键年份"),
        ("新文化运动", "1915 年陈独秀创办《新青年》，提倡民主和科学", "把新文化运动和五四运动等同", "区分思想运动和政治运动"),
    ],
    "地理": [
        ("地球运动", "地球自转周期约 23 时 56 分，公转产生四季更替", "把自转和公转的地理意义混淆", "用地球仪演示"),
        ("气候类型", "地中海气候夏季炎热干燥、冬季温和多雨", "只看气温不看降水", "对照气温曲线和降水柱状图"),
        ("等高线", "等高线密集处坡陡，稀疏处坡缓，山谷处等高线向高处凸出", "山谷和山脊判断反了", "记住“凸高为低”"),
        ("人口迁移", "影响人口迁移的因素有经济、政策、环境等，经济因素往往起主导作用", "只答一个因素", "从推力和拉力两方面作答"),
        ("水循环", "海陆间循环使陆地水资源不断得到补充", "把三种水循环类型混淆", "画出水循环示意图"),
    ],
    "政治": [
        ("价值规律", "价格围绕价值上下波动，受供求关系影响", "把价格等同于价值", "结合生活中的例子理解"),
        ("矛盾观", "矛盾具有普遍性和特殊性，要具体问题具体分析", "原理和方法论不对应", "原理后面紧跟方法论"),
        ("依法治国", "宪法是国家的根本大法，具有最高的法律效力", "把宪法和普通法律的地位混淆", "记住宪法的三个“最”"),
    ],
}

GRADES = ["初一", "初二", "初三", "高一", "高二", "高三"]
TERMS = ["期中考试", "期末考试", "月考", "模拟考试", "单元测验", "高考真题", "中考真题"]
YEARS = ["2019", "2020", "2021", "2022", "2023", "2024"]

LESSON = [
    "本节课复习了{subject}中的{topic}。重点是：{fact}。学生常见的问题是{mistake}，建议{advice}。",
    "<p>【课堂小结】{grade}{subject}·{topic}</p><p>{fact}。易错点：{mistake}。</p>",
    "{grade}{subject}第 {n} 课时学习{topic}，老师强调{fact}；课后布置了 {k} 道练习题，要求{advice}。",
    "今天的{subject}课讲{topic}……核心结论是{fact}。同学们要避免{mistake}。",
]
ANALYSIS = [
    "【试题分析】本题考查{topic}，属于{level}题。解题关键在于理解{fact}。不少考生{mistake}，导致失分。",
    "{year}年{term}{subject}第 {q} 题考查{topic}，得分率约为 {rate}%。错误主要集中在{mistake}。",
    "【解析】由题意知，{fact}。所以本题选 {choice}。<br/>点评：本题难度{level2}，{advice}即可。",
    "“{topic}”是{term}的高频考点——近 {k} 年考了 {n} 次。命题常以{form}的形式出现，需要掌握：{fact}。",
]
ANSWER = [
    "答：{fact}。故答案为 {choice}。",
    "【答案】{choice}&nbsp;【解析】{fact}，因此 {choice} 正确，其余选项均不符合题意。",
    "解：根据{topic}的知识，{fact}。综上所述，答案是 {choice}。",
]
ADVICE = [
    "学习建议：复习{topic}时{advice}，不要{mistake}。每天坚持 {minutes} 分钟，效果会更明显。",
    "给{grade}同学的{subject}建议：把错题按{topic}等专题分类，{advice}，考前再集中回顾一遍。",
    "很多同学问{topic}怎么学？我的经验是——{advice}。另外要注意{mistake}这个坑。",
    "<div>学霸笔记：{subject}/{topic}</div>{fact}。记忆口诀不如理解原理，{advice}。",
]

LEVELS = ["基础", "中档", "较难", "压轴"]
LEVELS2 = ["不大", "适中", "较大"]
FORMS = ["选择题", "填空题", "解答题", "实验探究题", "材料分析题"]
CHOICES = ["A", "B", "C", "D", "AC", "BD"]

# Hand-written passages that do not fit the frames: English-heavy, formula-heavy, messy exports.
EXTRA = [
    "Unit 3 单词默写：environment、pollution、protect、recycle，每个词抄写 5 遍并造句。",
    "CO2 + H2O → H2CO3，碳酸不稳定，受热分解又生成 CO2 和 H2O。",
    "若 x^2+1=0 在实数范围内无解，但在复数范围内 x=±i。",
    "期末复习计划：第 1 周函数，第 2 周数列，第 3 周立体几何&amp;解析几何，第 4 周综合训练。",
    "老师评语：这次作文立意不错，但结尾太仓促……下次注意详略得当。",
    "Reading tip: skim the passage first, then scan for key words such as dates, names and numbers.",
    "实验报告：用 pH 试纸测得某溶液 pH≈3，说明该溶液显酸性；若滴加 NaOH 溶液，pH 会逐渐增大。",
    "<p>&nbsp;</p><p>家长会通知：本周五下午 3:00 在 302 教室召开{grade}家长会，请准时参加。</p>",
    "DNA 的双螺旋结构由 Watson 和 Crick 于 1953 年提出，碱基配对遵循 A-T、G-C 原则。",
    "错题本第 17 页：log₂8=3，而不是 4；换底公式 log_a b = lg b / lg a。",
    "The quick review: 一般现在时 do/does，一般过去时 did，一般将来时 will do。",
    "学而不思则罔，思而不学则殆。——《论语·为政》",
    "物理竞赛辅导：一个质量为 2 kg 的物体在 F=10 N 的水平拉力作用下，由静止开始运动，μ=0.2，g 取 10 m/s^2，求 3 s 末的速度。",
    "作文题目：《那一刻，我长大了》。要求：不少于 600 字，不得抄袭，不得透露个人信息。",
    "高考倒计时 100 天：保持作息规律，每天 6:30 起床，23:00 前睡觉，合理安排各科时间。",
    "化学方程式配平：2H2 + O2 =点燃= 2H2O；Fe2O3 + 3CO =高温= 2Fe + 3CO2。",
    "地理读图题：图中 A 地位于 30°N、120°E 附近，属于亚热带季风气候。",
    "英语作文常用句型：It is widely believed that...；What's more, ...；In a word, ...",
    "历史小测：1840 年鸦片战争、1894 年甲午战争、1900 年八国联军侵华，按时间顺序排列。",
    "数学周测答案：1-5 BCDAA，6-10 CBDDA，11. 2√3，12. (−∞, 1)，13. 7/9。",
]

SHORT_ROWS = ["好", "谢谢老师", "见下图", "<br/>", "&nbsp;", "……", "略", "A"]


def fill(frame, rng, subject, topic, fact, mistake, advice):
    return frame.format(
        subject=subject, topic=topic, fact=fact, mistake=mistake, advice=advice,
        grade=rng.choice(GRADES), term=rng.choice(TERMS), year=rng.choice(YEARS),
        n=rng.randint(1, 12), k=rng.randint(3, 10), q=rng.randint(1, 22),
        rate=rng.randint(35, 92), level=rng.choice(LEVELS), level2=rng.choice(LEVELS2),
        form=rng.choice(FORMS), choice=rng.choice(CHOICES), minutes=rng.choice([15, 20, 30, 45]),
    )


def passages(rng):
    rows = []
    for subject, facts in FACTS.items():
        for topic, fact, mistake, advice in facts:
            for frames in (LESSON, ANALYSIS, ANSWER, ADVICE):
                for frame in rng.sample(frames, 2 if len(frames) > 3 else 1):
                    rows.append(fill(frame, rng, subject, topic, fact, mistake, advice))
    for text in EXTRA:
        rows.append(text.replace("{grade}", rng.choice(GRADES)))
    rng.shuffle(rows)
    # What real exports contain: re-posted passages, near-empty rows, odd whitespace.
    rows += rng.sample(rows, 12)
    rows += SHORT_ROWS
    rows[5] = "  " + rows[5] + "\u3000\u3000"
    rows[9] = rows[9].replace("。", "。\t", 1)
    rng.shuffle(rows)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="data/sample/corpus.txt", help="file to write")
    parser.add_argument("--seed", type=int, default=20261125, help="seed of the frame choices")
    args = parser.parse_args()
    rows = passages(random.Random(args.seed))
    with open(args.output, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(row + "\n")
    print(f"wrote {len(rows)} passages to {args.output}")


if __name__ == "__main__":
    main()
