"""The word lists the name and place rules share: capitalized words that are no name, and the words
that make a capitalized run an organisation or a facility."""

# Capitalized English words that are also given names in the list, too common to take as a name.
COMMON_WORDS = frozenset(
    "The This That These Those They There Then When What Which While Where With Will May June April "
    "August March Mark Grant Bill Rose Hope Joy Faith Page Read See Art Long Young King Major General "
    "Justice Court Union Royal Star Sun Don Love Summer Autumn Winter Angel Dawn Eve Lily Victoria "
    "Holly Iris Jade Ruby Pearl Amber Crystal Sky River Forest Stone Bay Lake Park Hill Field Golden "
    "North South East West New Old Saint Santa San Christian China India Paris London Florence Chelsea "
    "Georgia Carolina Virginia Dakota Jordan Kenya Israel Asia Africa America Nice Max Sonny Van "
    # code literals and institution words that are also the names of towns over 5,000 people
    "None True False Self Null Federal Commonwealth Alliance Police Central University Reserve Republic "
    "National Centre Center Station Hospital Harbour Liberty Independence Progress Enterprise Industry "
    "Commerce Victory Concord Unity Freedom Providence Eden Paradise Normal Mission Temple Trinity Pride "
    "Opportunity Energy Media Mobile Reading Split Bath Deal Welcome Colon Sale Hull Battle Street "
    # colours: a capitalized colour starts a nickname or a name of a thing ("Red Cross"), rarely a given name
    "Red Blue White Black Brown Grey Gray Silver".split())
# Capitalized words that are no name on their own: a run of only these (and rule hits) skips the model.
NOT_NAMES = frozenset(
    "The A An And Or But If In On At To From Of For By As Is It Its He She We You They I My His Her Our Your "
    "Their This That These Those There Then When What Which While Where Who Why How With Without After Before "
    "During Since Until Not No Yes So All Some Any Each Every Most Many More One Two Three First Second Last "
    "Next New Old Mr Mrs Ms Dr Sir Dear "
    "January February March April May June July August September October November December "
    "Monday Tuesday Wednesday Thursday Friday Saturday Sunday None True False Self Null Return".split())
# Words that make a capitalized run an organisation, a facility or a licence rather than a person or a
# place ("Kennedy Space Centre", "Free Software Foundation", "GNU General Public License"); none is a
# surname in Faker's lists of the benchmark's locales.
ORG_WORDS = frozenset(
    "Foundation Institute Institution University Universität Université Universidad Università College School "
    "Academy Society Association Council Committee Commission Board Bureau Department Ministry Agency Authority "
    "Office Centre Center Hospital Clinic Museum Library Gallery Theatre Theater Parliament Assembly Senate "
    "Tribunal Police Army Navy Party Union League Club Team Cup Trophy Prize Award Championship Corporation "
    "Corp Inc Ltd Limited GmbH LLC Group Holdings Industries Systems Technologies Technology Software Labs "
    "Laboratories Laboratory Networks Network Project Consortium Trust Fund Bank Publishing Media Times Herald "
    "Journal Magazine Records Studios Energy Airlines Airways Motors Hotel Restaurant Detention Prison Header "
    "Manager Developers Contributors Authors License Licence Public General Organization Organisation "
    "Federation Institut Service Services Solutions Computing Research Sciences Engineering Government "
    # company forms and trades: "Verona Pharma Plc", "Altera Infrastructure L.P.", "Westamerica Bancorporation"
    "Plc PLC Co Cos SE AG NV SA SpA AB ASA Oyj ETF Bancorp Bancorporation Pharma Pharmaceuticals Biopharma "
    "Therapeutics Orchestra Infrastructure Resources Investments Partners Capital Enterprises Ventures Holding "
    "Financial Insurance Securities Equity Income Foods Petroleum Mining Minerals Realty Properties Logistics "
    "Semiconductor Electronics Chemicals Chemical".split())
# Facilities and landforms: after a person's name they make it a place ("George Hospital" is ORG).
SITE_WORDS = frozenset("Airport Station Oval Stadium Test Series Island Islands Valley Beach Mountains Highway "
                       "Bridge Tower Cathedral Square".split())
