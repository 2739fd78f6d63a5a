# ruff: noqa: E501  (data tables of Chinese sentences; ruff counts each CJK character as two columns)
"""Write data/sample/labelled.jsonl: short Chinese exam and lesson sentences labelled by subject.

The downstream stage's demo task (subject tagging). Each row is {"text", "topic", "label"}: a
sentence written for this project, the knowledge point it is about (a second text for the
sentence-pair form of the task) and its subject, 15 rows for each of 8 subjects. The sentences
use the characters of data/sample/vocab.txt (the demo vocab built from the sample corpus), so the
demo model sees few [UNK]s; the script prints the [UNK] rate under that vocab. The rows are in a
fixed shuffled order, so the file is reproducible.

    .venv/bin/python scripts/write_labelled_sample.py [--output data/sample/labelled.jsonl]
"""

import argparse
import json
import os
import random

# subject -> [(topic, sentence)]
ROWS = {
    "数学": [
        ("二次函数", "二次函数的图像开口向上，求对称轴和最小值。"),
        ("等差数列", "等差数列的首项为 2，公差为 3，求前 10 项和。"),
        ("三角函数", "求函数 y=sin2x 的周期，并写出它的单调区间。"),
        ("导数", "利用导数判断函数的单调性，并求出极值点。"),
        ("概率", "古典概型中，事件 A 发生的概率为 m/n。"),
        ("立体几何", "正方体的棱长为 2，求它的体对角线长。"),
        ("不等式", "用均值不等式求 x+1/x 的最小值，并说明等号成立的条件。"),
        ("向量", "两个向量垂直，求参数的值。"),
        ("圆锥曲线", "由离心率求出这个圆锥曲线的标准方程。"),
        ("复数", "计算复数 3+4i 的模。"),
        ("函数", "判断函数的奇偶性，并画出函数的图像。"),
        ("数列", "写出数列的通项公式，再求第 8 项。"),
        ("几何", "在三角形中，由两条线段的长和角度求第三条线段的长。"),
        ("集合", "求集合 A 与集合 B 的交集。"),
        ("方程", "解方程组，并检验解是否正确。"),
    ],
    "物理": [
        ("牛顿第二定律", "物体受到 10 N 的合力，质量为 2 kg，求加速度。"),
        ("动能定理", "合外力对物体做的功等于物体动能的变化量。"),
        ("欧姆定律", "电压为 6 V，电流为 2 A，由欧姆定律求 R。"),
        ("电磁感应", "导体在磁场中运动，用右手定则判断感应电流的方向。"),
        ("机械能守恒", "只有重力做功时，物体的机械能守恒。"),
        ("平抛运动", "物体水平抛出后做平抛运动，求落地时间。"),
        ("光的折射", "光从空气射入水中，折射角小于入射角。"),
        ("动量守恒", "两个小球相互作用，系统的动量守恒，求作用后的速度。"),
        ("受力分析", "先画出物体的受力图，不要漏掉摩擦力。"),
        ("电路", "串联电路中电流处处相等，并联电路中电压相等。"),
        ("速度", "物体由静止开始做匀加速直线运动，求 3 s 末的速度。"),
        ("重力", "重力的方向总是竖直向下。"),
        ("电场", "电场中正电的受力方向就是电场的方向。"),
        ("摩擦力", "动摩擦力的大小与正压力成正比。"),
        ("能量", "能量不会凭空产生，只会从一种形式转化为另一种形式。"),
    ],
    "化学": [
        ("氧化还原反应", "标出反应中各元素的化合价，判断被氧化的物质。"),
        ("化学平衡", "升高温度，化学平衡向吸热反应方向移动。"),
        ("电解质溶液", "常温下溶液的 pH 为 3，溶液显酸性。"),
        ("有机化学", "乙醇能与钠反应放出 H2，乙酸显酸性。"),
        ("物质的量", "标准状况下 22.4 L 气体的物质的量是 1 mol。"),
        ("离子反应", "书写离子方程式时，沉淀和气体保留化学式。"),
        ("元素周期律", "同周期元素从左到右，原子半径逐渐减小。"),
        ("化学方程式", "配平化学方程式，注意反应条件。"),
        ("酸碱", "向酸性溶液中滴加碱溶液，pH 逐渐增大。"),
        ("碳", "CO2 通入水中生成碳酸，碳酸不稳定。"),
        ("氧气", "碳在氧气中燃烧生成 CO2。"),
        ("金属", "Fe2O3 与 CO 在高温下反应生成 Fe 和 CO2。"),
        ("溶解", "物质溶于水时，有的吸热，有的放热。"),
        ("实验", "实验中用 pH 试纸测定溶液的酸碱性。"),
        ("电子", "反应中转移的电子数目要守恒。"),
    ],
    "生物": [
        ("光合作用", "光合作用的光反应在类囊体薄膜上进行。"),
        ("细胞呼吸", "有氧呼吸的第三阶段在线粒体中进行。"),
        ("遗传定律", "Aa 自交，后代的性状分离比为 3:1。"),
        ("DNA 复制", "DNA 的复制方式是半保留复制。"),
        ("生态系统", "生态系统中能量流动是单向的，逐级递减。"),
        ("神经调节", "兴奋在神经元之间通过突触单向传递。"),
        ("细胞", "细胞是生物体结构和功能的基本单位。"),
        ("酶", "酶的作用具有专一性和高效性。"),
        ("基因", "基因是有遗传效应的 DNA 片段。"),
        ("叶绿体", "叶绿体是进行光合作用的场所。"),
        ("食物网", "画出这个生态系统的食物网。"),
        ("转录", "转录以 DNA 为模板合成 RNA。"),
        ("生物进化", "自然选择决定生物进化的方向。"),
        ("细胞分化", "细胞分化使细胞的形态和功能发生变化。"),
        ("环境", "生物的生存受环境条件影响。"),
    ],
    "语文": [
        ("文言虚词", "解释文言文中\"之\"和\"而\"的用法。"),
        ("古诗鉴赏", "这首诗借景抒情，分析诗人的情感。"),
        ("病句修改", "找出句中的语病，并说明属于哪种类型。"),
        ("议论文写作", "议论文要有鲜明的论点和典型的论据。"),
        ("现代文阅读", "概括文章第三段的主要内容。"),
        ("名句默写", "默写《劝学》中的名句，注意不要写错字。"),
        ("作文", "以《那一刻，我长大了》为题写作文，不少于 600 字。"),
        ("修辞", "指出这一句使用的修辞手法和作用。"),
        ("人物形象", "结合细节描写分析人物形象。"),
        ("论语", "学而不思则罔，思而不学则殆。"),
        ("文言文", "把文言文中的句子写成现代汉语。"),
        ("诗歌", "分析诗中景物描写的特点。"),
        ("成语", "选出下列成语使用正确的一项。"),
        ("标点", "这一段中有一处标点使用不当。"),
        ("阅读", "结合原文，分析这一段的作用。"),
    ],
    "英语": [
        ("定语从句", "关系代词 which 引导定语从句，修饰前面的先行词。"),
        ("时态", "现在完成时常与 since 和 for 连用。"),
        ("完形填空", "完形填空要根据上下文选出最合适的答案。"),
        ("阅读理解", "阅读文章，找出每段的 topic sentence。"),
        ("书面表达", "英语作文要分点表达，注意拼写和句型。"),
        ("非谓语动词", "to do 表示目的，doing 表示主动。"),
        ("单词", "每个英语单词抄写 5 遍并造句。"),
        ("语法", "一般过去时的谓语动词用过去式。"),
        ("句型", "It is widely believed that 是常用的英语句型。"),
        ("题型", "做英语题要先看题，抓住关键词。"),
        ("短文", "Reading tip: read the first sentence of each part."),
        ("词汇", "environment 和 pollution 是环境主题的常用词。"),
        ("被动语态", "被动语态由 be 加过去分词构成。"),
        ("连接词", "however 表示转折，therefore 表示结果。"),
        ("作文", "In a word, we should protect the environment."),
    ],
    "历史": [
        ("辛亥革命", "1911 年的辛亥革命推翻了清朝的统治。"),
        ("工业革命", "第一次工业革命以蒸汽机的广泛使用为标志。"),
        ("丝绸之路", "张骞出使西域，开辟了丝绸之路。"),
        ("改革开放", "1978 年十一届三中全会作出改革开放的决策。"),
        ("新文化运动", "陈独秀创办《新青年》，提倡民主和科学。"),
        ("鸦片战争", "中国近代史从 1840 年鸦片战争开始。"),
        ("甲午战争", "甲午战争发生在 1894 年。"),
        ("戊戌变法", "戊戌变法是一次资产阶级的改革运动。"),
        ("五四运动", "五四运动发生在 1919 年。"),
        ("西汉", "西汉时期中国与西方的交流增多。"),
        ("近代史", "按时间顺序排列近代史上的重大事件。"),
        ("君主专制", "辛亥革命结束了两千多年的君主专制制度。"),
        ("清朝", "清朝末年，中国的民族矛盾不断加剧。"),
        ("世界史", "比较两次工业革命的标志和影响。"),
        ("历史事件", "结合材料，分析这一历史事件的影响。"),
    ],
    "地理": [
        ("地球运动", "地球自转一周约 23 时 56 分。"),
        ("四季", "地球公转产生了四季的变化。"),
        ("气候类型", "地中海气候夏季炎热干燥，冬季温和多雨。"),
        ("等高线", "等高线密集的地方坡陡，稀疏的地方坡缓。"),
        ("人口迁移", "经济因素是影响人口迁移的主要因素。"),
        ("水循环", "海陆间循环使陆地水资源不断得到补充。"),
        ("季风气候", "图中 A 地属于亚热带季风气候。"),
        ("经度", "读图，写出 A 地的经度。"),
        ("降水", "对照气温曲线和降水柱状图判断气候类型。"),
        ("山谷", "山谷处等高线向高处凸出。"),
        ("水文", "这个地区的水量受降水影响很大。"),
        ("地形", "读图，说出这个地区的地形特点。"),
        ("区位", "分析 A 地的区位条件。"),
        ("气温", "A 地一月气温在 0°C 以下。"),
        ("地图", "在地图上找出这个地区的位置。"),
    ],
}


def rows(seed):
    out = [{"text": text, "topic": topic, "label": subject}
           for subject, pairs in ROWS.items() for topic, text in pairs]
    random.Random(seed).shuffle(out)
    return out


def unk_rate(texts, vocab_file):
    """Share of the tokens that Google's tokenizer (as the demo model's) maps to [UNK]."""
    import transformers

    tokenizer = transformers.BertTokenizer(vocab=vocab_file, do_lower_case=True)
    tokens = [t for text in texts for t in tokenizer.tokenize(text)]
    return sum(t == "[UNK]" for t in tokens) / len(tokens), len(tokens)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="data/sample/labelled.jsonl", help="file to write")
    parser.add_argument("--vocab_file", default="data/sample/vocab.txt",
                        help="vocab whose [UNK] rate is printed")
    parser.add_argument("--seed", type=int, default=20261204, help="seed of the row order")
    args = parser.parse_args()
    labelled = rows(args.seed)
    with open(args.output, "w", encoding="utf-8") as f:
        for row in labelled:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(labelled)} rows ({len(ROWS)} subjects) to {args.output}")
    if os.path.isfile(args.vocab_file):
        rate, count = unk_rate([r["text"] for r in labelled], args.vocab_file)
        print(f"[UNK] rate under {args.vocab_file}: {rate:.1%} of {count} tokens")


if __name__ == "__main__":
    main()
