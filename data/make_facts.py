"""Build ``course_utils/facts.json``: 40 facts with known answers, each with 4 distractors of the same
length in SmolLM2's tokens, for notebook 01's test of whether the model's likelihood finds the truth.

    python data/make_facts.py          # rewrites course_utils/facts.json (about 15 s: it loads SmolLM2)

The rule, written down (with the lists below) before SmolLM2 was asked about any of these facts:

- four categories of ten questions each, chosen to mix easy and hard facts: capitals of countries,
  chemical symbols of elements, authors of famous books, years of well-known events;
- a question's prompt is a fixed template per category, and its answer is the prompt's
  continuation, with a leading space (" Canberra");
- capitals, symbols and authors: the distractors are 4 other answers of the same category (the
  ``POOL`` lists: other capitals, other symbols, other authors), drawn at random (``SEED`` below)
  among those with the same number of tokens as the true answer under the tokenizer that
  ``course_utils.pretrained.load_smollm2`` returns;
- years: 4 other years drawn at random (``SEED``) within 15 years of the true one (every year is
  5 tokens: a space and four single digits);
- every fact also carries ``subject_free``: its category's prompt with the subject removed
  (``SUBJECT_FREE``), after which the same candidates are scored as a baseline (how much of the
  ranking a prior over the candidates gives, without the question). These four prompts were added
  after the facts had been scored, and before any candidate was scored after them;
- a question with fewer than 4 same-length distractors in its pool is an error. Two questions of the
  first draft failed it and were replaced, by token lengths alone and before any scoring: Mongolia
  (Ulaanbaatar, 5 tokens) by Nigeria, and Crime and Punishment (Fyodor Dostoevsky, 8 tokens) by
  The Metamorphosis; the capitals' pool was then widened to 108 capitals.

No question, answer or distractor was changed after the model's scores were seen (the data and this
script were committed before notebook 01 first scored them).
"""
from __future__ import annotations

import json
import random
from pathlib import Path

SEED = 2017          # the distractor draw; fixed, so the file does not depend on a run's seed
DISTRACTORS = 4
YEAR_SPREAD = 15
OUT = Path(__file__).resolve().parents[1] / "course_utils" / "facts.json"   # shipped in the package

TEMPLATES = {"capital": "The capital of {} is", "symbol": "The chemical symbol for {} is",
             "author": "{} was written by", "year": "{} in"}
# the same question with its subject removed: the candidates' scores after it are the model's prior,
# what it would pick without reading the question (written before any of them was scored)
SUBJECT_FREE = {"capital": "The capital of this country is", "symbol": "The chemical symbol for this element is",
                "author": "This book was written by", "year": "This happened in"}

QUESTIONS = {
    "capital": [("France", "Paris"), ("Japan", "Tokyo"), ("Egypt", "Cairo"), ("Canada", "Ottawa"),
                ("Australia", "Canberra"), ("Turkey", "Ankara"), ("Kenya", "Nairobi"), ("Peru", "Lima"),
                ("Nigeria", "Abuja"), ("New Zealand", "Wellington")],
    "symbol": [("gold", "Au"), ("silver", "Ag"), ("iron", "Fe"), ("lead", "Pb"), ("sodium", "Na"),
               ("potassium", "K"), ("mercury", "Hg"), ("tin", "Sn"), ("tungsten", "W"), ("copper", "Cu")],
    "author": [("Pride and Prejudice", "Jane Austen"), ("Nineteen Eighty-Four", "George Orwell"),
               ("War and Peace", "Leo Tolstoy"), ("Hamlet", "William Shakespeare"),
               ("Don Quixote", "Miguel de Cervantes"), ("Moby-Dick", "Herman Melville"),
               ("Frankenstein", "Mary Shelley"), ("The Metamorphosis", "Franz Kafka"),
               ("Things Fall Apart", "Chinua Achebe"), ("One Hundred Years of Solitude", "Gabriel García Márquez")],
    "year": [("The Berlin Wall fell", 1989), ("World War II ended", 1945), ("World War I began", 1914),
             ("The French Revolution began", 1789), ("Christopher Columbus first reached the Americas", 1492),
             ("The Battle of Hastings was fought", 1066), ("The first crewed Moon landing took place", 1969),
             ("The Titanic sank", 1912), ("The Wright brothers made their first powered flight", 1903),
             ("The Chernobyl nuclear disaster happened", 1986)],
}

# the other answers of each category that distractors are drawn from (besides the questions' own)
POOL = {
    "capital": ["Berlin", "Madrid", "Rome", "London", "Moscow", "Beijing", "Athens", "Vienna", "Lisbon",
                "Dublin", "Oslo", "Stockholm", "Helsinki", "Warsaw", "Prague", "Budapest", "Bangkok", "Hanoi",
                "Jakarta", "Manila", "Seoul", "Tehran", "Baghdad", "Riyadh", "Accra", "Dakar", "Abuja",
                "Santiago", "Bogotá", "Caracas", "Quito", "Havana", "Kabul", "Islamabad", "Kathmandu",
                "Reykjavik", "Copenhagen", "Brussels", "Amsterdam", "Bucharest", "Sofia", "Belgrade", "Kyiv",
                "Minsk", "Tbilisi", "Yerevan", "Baku", "Tashkent", "Astana", "Damascus", "Georgetown", "Kingston",
                "Tunis", "Algiers", "Amman", "Bamako", "Dodoma", "Doha", "Harare", "Kampala", "Lusaka", "Manama",
                "Maputo", "Montevideo", "Muscat", "Rabat", "Riga", "Tallinn", "Tirana", "Asmara", "Beirut",
                "Chisinau", "Gaborone", "Kigali", "Kinshasa", "Libreville", "Lilongwe", "Mogadishu", "Niamey",
                "Nicosia", "Paramaribo", "Skopje", "Tripoli", "Valletta", "Vientiane", "Vilnius", "Windhoek",
                "Zagreb", "Antananarivo", "Ashgabat", "Bishkek", "Bratislava", "Bujumbura", "Dushanbe",
                "Khartoum", "Nouakchott", "Podgorica", "Sarajevo", "Thimphu"],
    "symbol": ["H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S", "Cl",
               "Ar", "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Br", "Kr", "Rb",
               "Sr", "Ag", "Sn", "I", "Xe", "Ba", "W", "Pt", "Au", "Hg", "Pb", "U", "Ra", "Rn"],
    "author": ["Charles Dickens", "Mark Twain", "Virginia Woolf", "Jules Verne", "Victor Hugo", "Franz Kafka",
               "James Joyce", "Ernest Hemingway", "Emily Brontë", "Charlotte Brontë", "Oscar Wilde",
               "Thomas Hardy", "Toni Morrison", "Agatha Christie", "Lewis Carroll", "John Steinbeck",
               "Harper Lee", "Hermann Hesse", "Albert Camus", "Gustave Flaubert", "Alexandre Dumas",
               "Edgar Allan Poe", "Walt Whitman", "Emily Dickinson", "Dante Alighieri", "Geoffrey Chaucer",
               "Jonathan Swift", "Daniel Defoe", "Anton Chekhov", "Marcel Proust", "Italo Calvino",
               "Haruki Murakami", "Salman Rushdie", "Kazuo Ishiguro", "Margaret Atwood", "Aldous Huxley",
               "Ray Bradbury", "Kurt Vonnegut", "Arthur Conan Doyle", "Bram Stoker", "Robert Louis Stevenson",
               "Rudyard Kipling", "Nikolai Gogol", "Ivan Turgenev", "Alexander Pushkin", "Wole Soyinka",
               "Jorge Luis Borges", "Pablo Neruda", "Umberto Eco", "John Milton", "Henry James",
               "Thomas Mann", "Bertolt Brecht", "Samuel Beckett", "Herman Wouk", "George Eliot"],
}


def build(tokenizer) -> dict:
    """The facts, as written to ``facts.json``: a list of ``{category, prompt, answer, distractors,
    tokens, subject_free}``, where every candidate (answer and distractors) is ``tokens`` tokens long."""
    rng = random.Random(SEED)
    length = lambda text: len(tokenizer(text, add_special_tokens=False).input_ids)   # noqa: E731
    facts = []
    for category, questions in QUESTIONS.items():
        for subject, truth in questions:
            answer = f" {truth}"
            if category == "year":
                others = [f" {y}" for y in range(truth - YEAR_SPREAD, truth + YEAR_SPREAD + 1) if y != truth]
            else:
                others = sorted({f" {a}" for a in POOL[category]} | {f" {a}" for _, a in questions})
                others.remove(answer)
            same = [o for o in others if length(o) == length(answer)]
            if len(same) < DISTRACTORS:
                raise ValueError(f"{category} {subject!r}: only {len(same)} distractors of {length(answer)} "
                                 f"tokens like {answer!r}: {same}")
            facts.append(dict(category=category, prompt=TEMPLATES[category].format(subject), answer=answer,
                              distractors=rng.sample(same, DISTRACTORS), tokens=length(answer),
                              subject_free=SUBJECT_FREE[category]))
    for f in facts:                       # the check the notebook relies on: equal lengths
        assert all(length(c) == f["tokens"] for c in [f["answer"], *f["distractors"]]), f
    return {"about": "Facts with known answers and same-length distractors (data/make_facts.py).",
            "tokenizer": "SmolLM2-135M-Instruct (course_utils.pretrained.load_smollm2)",
            "seed": SEED, "facts": facts}


if __name__ == "__main__":
    from course_utils.pretrained import load_smollm2

    _, tokenizer = load_smollm2()
    data = build(tokenizer)
    OUT.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    lengths = sorted({f["tokens"] for f in data["facts"]})
    print(f"{len(data['facts'])} facts, answers of {lengths} tokens -> {OUT}")
