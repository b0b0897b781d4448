"""Vocabulary of the generated demo corpus: quantities with units and the subject they belong to.

Kept apart from the renderer so questions and captions draw on the same facts.
"""

from __future__ import annotations

from typing import NamedTuple


class Quantity(NamedTuple):
    name: str
    unit: str
    symbol: str
    subject: str


QUANTITIES: tuple[Quantity, ...] = (
    Quantity("temperature", "kelvin", "K", "natural science"),
    Quantity("pressure", "pascal", "Pa", "natural science"),
    Quantity("velocity", "meters per second", "m/s", "natural science"),
    Quantity("mass", "kilogram", "kg", "natural science"),
    Quantity("energy", "joule", "J", "natural science"),
    Quantity("electric current", "ampere", "A", "natural science"),
    Quantity("voltage", "volt", "V", "natural science"),
    Quantity("force", "newton", "N", "natural science"),
    Quantity("frequency", "hertz", "Hz", "natural science"),
    Quantity("power", "watt", "W", "natural science"),
    Quantity("population", "people", "people", "social science"),
    Quantity("household income", "dollars", "$", "social science"),
    Quantity("unemployment rate", "percent", "%", "social science"),
    Quantity("travel time", "minutes", "min", "social science"),
)

FIGURE_TYPES: tuple[str, ...] = (
    "graph plot",
    "scatter plot",
    "bar chart",
    "table",
    "node diagram",
    "equation",
)

CATEGORY_NAMES: tuple[str, ...] = ("Alpha", "Beta", "Gamma", "Delta", "Sigma", "Omega", "Kappa")

PROCESS_STEPS: tuple[tuple[str, ...], ...] = (
    ("sunlight", "leaf", "glucose", "growth"),
    ("evaporation", "condensation", "precipitation", "runoff"),
    ("sample", "filter", "detector", "signal"),
    ("producer", "herbivore", "carnivore", "decomposer"),
    ("survey", "cleaning", "model", "forecast"),
)

EQUATIONS: tuple[tuple[str, str, str], ...] = (
    # (mathtext, quantity it defines, plain text read off the figure)
    (r"$E = m c^2$", "energy", "E = m c 2"),
    (r"$F = m a$", "force", "F = m a"),
    (r"$P = \frac{W}{t}$", "power", "P = W / t"),
    (r"$V = I R$", "voltage", "V = I R"),
    (r"$p = \frac{F}{A}$", "pressure", "p = F / A"),
    (r"$v = \frac{d}{t}$", "velocity", "v = d / t"),
    (r"$f = \frac{1}{T}$", "frequency", "f = 1 / T"),
)

LECTURES: dict[str, str] = {
    "type": "Plots show trends, bar charts compare groups, tables list values and diagrams show links.",
    "axis": "The caption of a figure says which quantities it shows.",
    "unit": "Every measured quantity has a unit that tells what it is counted in.",
}
