"""Stress collections for fusion, where one retriever is deliberately weak: generated
deterministically (fixed seeds, no data files) as BEIR folders (``corpus.jsonl``,
``queries.jsonl``, ``qrels/train.tsv`` and ``qrels/test.tsv``) under
``benchmarks/.cache/stress/<name>/``, so that ``evaluate_beir`` and ``read_beir`` read them like
SciFact.

- ``parts`` (dense weak on the query): 2,000 hardware products, each with a part number such as
  ``BX-4821-ST`` (a series code shared by a tenth of the catalog, a four-digit number of its
  own, a finish code shared by a twelfth); a query is a part number as a customer types it, its
  product the one relevant item. BM25 finds it first (the number is rare); the dense model sees
  word pieces and returns look-alike products.
- ``entities`` (dense weak on the collection, as LIMIT: Weller et al. 2025): 1,000 people, each
  "likes" 12 things of a 404-word vocabulary; a query is "Who likes X?" for a thing exactly two
  people like, both relevant. One vector per person cannot hold every combination of 12 likes.
- ``paraphrase`` (BM25 weak): 1,500 short notes, each about 6 concepts, each named by either
  word of a synonym pair (car / automobile); a query asks for 3 of a note's concepts by the
  *other* word of each pair, in glue words of the notes: BM25 matches other notes that use
  those words, and glue everywhere; the dense model bridges the synonyms.

Each set has 100 train and 200 test queries (disjoint): settings are chosen on train, scored on test.

    python benchmarks/_stress_data.py      # writes the three folders (a second run reuses them)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

CACHE = Path(__file__).resolve().parent / ".cache" / "stress"
FORMAT = 1
NAMES = ("parts", "entities", "paraphrase")
QUERIES = {"train": 100, "test": 200}

KINDS = (
    "hex bolt",
    "wood screw",
    "flat washer",
    "door hinge",
    "angle bracket",
    "cable tie",
    "pipe clamp",
    "wall anchor",
    "blind rivet",
    "lock nut",
    "threaded rod",
    "spring pin",
    "eye bolt",
    "shelf bracket",
    "hose clamp",
    "drywall screw",
    "carriage bolt",
    "wing nut",
    "split washer",
    "gate latch",
)
MATERIALS = (
    "stainless steel",
    "brass",
    "zinc-plated steel",
    "nylon",
    "aluminium",
    "galvanized iron",
)
SERIES = ("BX", "KT", "MR", "ZP", "QL", "HV", "DN", "WS", "FR", "TC")
FINISHES = ("ST", "BK", "ZN", "PL", "GR", "CH", "NI", "AN", "RD", "BL", "YE", "WH")
USES = (
    "outdoor decking",
    "furniture assembly",
    "marine fittings",
    "electrical panels",
    "plumbing repairs",
    "garden fencing",
    "shelving units",
    "automotive trim",
)

# Things people like (LIMIT-style). Real words, so that the dense model reads them as words.
THINGS = """
apples apricots avocados bananas blueberries cherries coconuts cranberries dates figs grapes
guavas kiwis lemons limes lychees mangoes melons nectarines olives oranges papayas peaches pears
pineapples plums pomegranates quinces raspberries strawberries tangerines almonds cashews
chestnuts hazelnuts peanuts pecans pistachios walnuts artichokes asparagus beets broccoli
cabbage carrots cauliflower celery cucumbers eggplants garlic kale leeks lettuce mushrooms onions
parsnips peppers potatoes pumpkins radishes spinach squash tomatoes turnips zucchini anchovies
bagels biscuits brownies burritos cheesecake chocolate cookies croissants cupcakes doughnuts
dumplings falafel lasagna macarons muffins noodles omelets pancakes pasta pastries pizza popcorn
pretzels pudding ravioli risotto salads sandwiches sausages scones smoothies soup sushi tacos
tea coffee waffles yogurt aardvarks alpacas antelopes armadillos badgers beavers bison buffalo
camels capybaras caribou cheetahs chimpanzees chinchillas cougars coyotes crocodiles dingoes
dolphins donkeys elephants elk ferrets flamingos foxes gazelles gerbils giraffes gophers gorillas
hamsters hedgehogs hippos hyenas iguanas jackals jaguars kangaroos koalas lemurs leopards lions
llamas lynxes manatees meerkats mongooses moose narwhals ocelots opossums orangutans otters
pandas panthers pelicans penguins porcupines possums pumas quokkas rabbits raccoons reindeer
rhinos salamanders seals skunks sloths squirrels tapirs tigers toucans turtles walruses weasels
wolverines wombats yaks zebras accordions banjos bagpipes bassoons cellos clarinets cymbals drums
flutes guitars harmonicas harps harpsichords mandolins oboes organs pianos saxophones sitars
trombones trumpets tubas ukuleles violins xylophones archery badminton baseball basketball
biking bowling boxing canoeing chess climbing cricket croquet curling darts diving fencing
fishing football golf gymnastics handball hiking hockey hurling judo karate kayaking lacrosse
marathons netball polo rafting rowing rugby sailing skating skiing snorkeling snowboarding soccer
softball squash surfing swimming tennis triathlons volleyball wrestling yoga astronomy botany
calligraphy ceramics crochet embroidery genealogy gardening juggling knitting origami painting
photography pottery quilting sculpture sewing taxidermy woodworking ballet bluegrass blues disco
flamenco folk funk gospel jazz opera polka punk reggae salsa tango techno bonsai cactuses daisies
daffodils dahlias ferns geraniums hyacinths irises jasmine lavender lilacs lilies magnolias
marigolds orchids pansies peonies petunias poppies roses sunflowers tulips violets zinnias
amethysts diamonds emeralds garnets jade opals pearls rubies sapphires topaz turquoise agates
bridges castles cathedrals canyons deserts fjords geysers glaciers islands jungles lagoons lakes
lighthouses meadows mountains oases prairies rainforests reefs rivers savannas swamps tundras
valleys vineyards volcanoes waterfalls airplanes balloons bicycles boats buses canoes carriages
helicopters motorcycles rockets sailboats scooters skateboards submarines tractors trains trams
trucks yachts zeppelins comets constellations eclipses galaxies meteors nebulas planets
rainbows sunsets thunderstorms tornadoes auroras blizzards crosswords dominoes kites marbles
puppets puzzles riddles sudoku yoyos lanterns candles fireworks mosaics murals tapestries
""".split()
FIRST = (
    "Ada Ben Cara Dev Elin Finn Gia Hugo Iris Jon Kai Lena Milo Nia Omar Pia Quin Rosa Sam "
    "Tara Ugo Vera Wes Xena Yuri Zoe Abel Bea Cyd Dora Emil Faye Gus Hana Ivo Jade Kit Lou "
    "Max Nell"
).split()
LAST = (
    "Durben Ashford Belmont Carrow Delacroix Everly Fairbanks Garrick Holloway Ingram Jessup "
    "Kestrel Lindqvist Marlowe Northcott Okafor Pembrook Quayle Rasmussen Sutherland "
    "Thackeray Underwood Vasquez Whitlock Yardley Zielinski Abernathy Blackwood Castellan "
    "Drummond Ellsworth Fenwick Greaves Hartigan Iverson"
).split()

# Concept pairs: (the notes' word, the queries' word); no pair shares a stem.
SYNONYMS = [
    tuple(p.split("/"))
    for p in """
car/automobile doctor/physician buy/purchase big/large small/tiny fast/rapid house/residence
job/occupation child/kid begin/commence end/finish help/assist show/demonstrate
answer/reply ask/inquire smart/intelligent rich/wealthy poor/impoverished angry/furious
happy/cheerful sad/sorrowful scared/frightened tired/exhausted sick/ill hurt/injured
road/highway shop/store film/movie picture/photograph trip/journey gift/present
rule/regulation law/statute money/cash wage/salary boss/manager worker/employee lawyer/attorney
teacher/instructor student/pupil school/academy hospital/clinic medicine/medication
illness/disease cure/remedy danger/hazard mistake/error fault/defect goal/objective
idea/notion plan/strategy problem/issue solution/resolution rise/increase fall/decline
grow/expand shrink/contract fix/repair break/shatter build/construct destroy/demolish
hide/conceal find/discover keep/retain throw/toss pull/drag push/shove jump/leap
run/sprint walk/stroll talk/chat shout/yell laugh/giggle cry/weep eat/consume drink/sip
sleep/slumber wake/awaken cook/prepare clean/tidy wash/rinse dirty/filthy wet/damp dry/arid
cold/chilly hot/scorching old/ancient new/modern strong/powerful weak/feeble hard/difficult
easy/simple quiet/silent loud/noisy bright/luminous dark/dim clever/shrewd brave/courageous
honest/truthful kind/compassionate rude/impolite calm/tranquil odd/peculiar rare/scarce
common/ordinary huge/enormous thin/slender fat/obese pretty/attractive ugly/hideous
boat/vessel ship/freighter plane/aircraft bike/bicycle truck/lorry street/avenue town/village
city/metropolis country/nation forest/woodland river/stream sea/ocean hill/mound rock/stone
sand/gravel garden/yard farm/ranch dog/canine cat/feline horse/stallion bird/sparrow fish/trout
cow/cattle pig/swine meal/dinner food/nourishment fruit/produce bread/loaf soup/broth
shirt/blouse shoe/sneaker coat/jacket hat/cap bag/satchel box/carton cup/mug plate/dish
knife/blade gun/firearm clock/watch phone/telephone computer/laptop book/novel letter/message
song/tune music/melody dance/ballet game/match party/celebration war/conflict peace/harmony
fight/battle king/monarch queen/empress army/troops police/constable thief/burglar crime/offense
prison/jail judge/magistrate vote/ballot leader/chief friend/companion enemy/foe wife/spouse
baby/infant mother/mom father/dad sister/sibling home/dwelling room/chamber door/gate
window/pane wall/partition floor/ground roof/ceiling bed/mattress chair/seat table/desk
""".split()
]
NOTE_GLUE = (
    "This note covers",
    "The report describes",
    "Here we discuss",
    "A short entry on",
    "The article mentions",
)
QUERY_GLUE = (
    "a note covering",
    "report describing",
    "discussion of",
    "an entry on",
    "article mentioning",
)  # the notes' glue words, so BM25 matches every note a little


def _parts(rng: np.random.Generator) -> tuple[list[dict[str, Any]], list[tuple[str, set[str]]]]:
    n = 2000
    numbers = rng.permutation(np.arange(1000, 10000))[:n]
    items, queries = [], []
    for i in range(n):
        kind = KINDS[int(rng.integers(len(KINDS)))]
        material = MATERIALS[int(rng.integers(len(MATERIALS)))]
        part = (
            f"{SERIES[i % len(SERIES)]}-{numbers[i]}-{FINISHES[int(rng.integers(len(FINISHES)))]}"
        )
        size = f"M{int(rng.choice([3, 4, 5, 6, 8, 10, 12]))}"
        use = USES[int(rng.integers(len(USES)))]
        items.append(
            {
                "_id": f"p{i:04d}",
                "title": f"{material.capitalize()} {kind} {size}",
                "text": f"{material} {kind}, size {size}, pack of {10 * int(rng.integers(1, 6))}, "
                f"for {use}. Part number {part}.",
            }
        )
        queries.append((part, {f"p{i:04d}"}))
    return items, queries


def _entities(rng: np.random.Generator) -> tuple[list[dict[str, Any]], list[tuple[str, set[str]]]]:
    n, likes = 1000, 12
    things = sorted(set(THINGS))
    names = sorted({f"{a} {b}" for a in FIRST for b in LAST})
    picked = rng.choice(len(names), n, replace=False)
    # Query things: each liked by exactly two people; the rest of the likes are drawn from the
    # other things, with replacement across people (each person's likes distinct).
    order = rng.permutation(len(things))
    n_query = sum(QUERIES.values())
    query_things, fillers = order[:n_query], order[n_query:]
    held: list[set[int]] = [set() for _ in range(n)]
    owners: dict[int, list[int]] = {}
    for t in query_things:
        who = rng.choice(n, 2, replace=False)
        while any(len(held[w]) >= likes for w in who):
            who = rng.choice(n, 2, replace=False)
        owners[int(t)] = [int(w) for w in who]
        for w in who:
            held[int(w)].add(int(t))
    items = []
    for p in range(n):
        extra = rng.choice(fillers, likes - len(held[p]), replace=False)
        liked = [things[t] for t in rng.permutation(sorted(held[p] | {int(x) for x in extra}))]
        items.append(
            {
                "_id": f"e{p:04d}",
                "title": names[int(picked[p])],
                "text": f"{names[int(picked[p])]} likes {', '.join(liked[:-1])} and {liked[-1]}.",
            }
        )
    queries = [
        (f"Who likes {things[int(t)]}?", {f"e{w:04d}" for w in owners[int(t)]})
        for t in query_things
    ]
    return items, queries


def _paraphrase(
    rng: np.random.Generator,
) -> tuple[list[dict[str, Any]], list[tuple[str, set[str]]]]:
    n, per_note, asked = 1500, 6, 3
    items, queries = [], []
    for i in range(n):
        concepts = rng.choice(len(SYNONYMS), per_note, replace=False)
        form = rng.integers(0, 2, per_note)  # which word of each pair the note uses
        words = [SYNONYMS[c][f] for c, f in zip(concepts, form)]
        glue = NOTE_GLUE[int(rng.integers(len(NOTE_GLUE)))]
        items.append(
            {"_id": f"n{i:04d}", "text": f"{glue} {', '.join(words[:-1])} and {words[-1]}."}
        )
        ask = rng.choice(per_note, asked, replace=False)
        qglue = QUERY_GLUE[int(rng.integers(len(QUERY_GLUE)))]
        other = " ".join(SYNONYMS[concepts[j]][1 - form[j]] for j in ask)
        queries.append((f"{qglue} {other}", {f"n{i:04d}"}))
    return items, queries


BUILDERS = {"parts": _parts, "entities": _entities, "paraphrase": _paraphrase}


def write(name: str, root: Path = CACHE) -> Path:
    """The BEIR folder of stress set ``name`` (written once; seeded, so always the same)."""
    folder = root / name
    done = folder / "meta.json"
    if done.exists() and json.loads(done.read_text()).get("format") == FORMAT:
        return folder
    rng = np.random.default_rng(NAMES.index(name) + 13)
    items, queries = BUILDERS[name](rng)
    order = rng.permutation(len(queries))
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w") as fh:
        for item in items:
            fh.write(json.dumps(item) + "\n")
    start = 0
    with open(folder / "queries.jsonl", "w") as qfh:
        for split, count in QUERIES.items():
            with open(folder / "qrels" / f"{split}.tsv", "w") as fh:
                fh.write("query-id\tcorpus-id\tscore\n")
                for j in order[start : start + count]:
                    qid = f"{split}-{int(j)}"
                    text, relevant = queries[int(j)]
                    qfh.write(json.dumps({"_id": qid, "text": text}) + "\n")
                    for doc in sorted(relevant):
                        fh.write(f"{qid}\t{doc}\t1\n")
            start += count
    done.write_text(json.dumps({"format": FORMAT, "items": len(items), "queries": QUERIES}))
    return folder


if __name__ == "__main__":
    for stress in NAMES:
        print(stress, write(stress))
