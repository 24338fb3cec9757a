"""The word list of ``rftgym/Wordle-v0``: common five-letter English words, written for rftgym
(no download). Every fifth word (in this order) is a test answer; the rest are train answers."""

WORDS = """
about above actor acute adapt admit adopt adult after again agent agree ahead alarm album alert
alike alive allow alone along alter amber among angel anger angle angry apart apple apply arena
argue arise armor arrow aside asset audio avoid award aware awful bacon badge baker basic basin
batch beach beard beast begin being below bench berry birth black blade blame blank blast blend
bless blind block blood bloom board boast bonus boost booth bound brain brand brave bread break
brick bride brief bring broad brook brown brush build built bunch burst buyer cabin cable camel
candy canoe cargo carry catch cause chain chair chalk charm chart chase cheap check cheek chess
chest chief child chill civil claim class clean clear clerk click cliff climb clock close cloth
cloud coach coast color comet coral couch count court cover craft crane crash cream crime crisp
cross crowd crown crust curve cycle daily dairy dance delay depth diary dizzy dough draft drain
drama dream dress drift drink drive eager eagle early earth eight elbow elder empty enemy enjoy
enter entry equal error essay event every exact exist extra fable faint faith false fancy feast
fence fever field fifth fifty fight final flame flash fleet flesh float flock flood floor flour
fluid focus force forge forth forty forum found frame fresh front frost fruit funny ghost giant
glass globe glory glove grace grade grain grand grant grape graph grass great green greet grief
group guard guess guest guide habit happy harsh heart heavy hedge hello hobby honey honor horse
hotel house human humor hurry ideal image index inner input issue ivory jelly jewel joint judge
juice knife knock label labor large laser later laugh layer learn lemon level light limit linen
lodge logic loose lower loyal lucky lunch magic major maker maple march match mayor medal metal
meter midst minor model money month moral motor mount mouse mouth movie music nerve never night
noble noise north novel nurse ocean offer often olive onion opera orbit order other outer owner
paint panel paper party pasta patch peace peach pearl pedal penny phase phone photo piano piece
pilot pitch pizza place plain plane plant plate point porch pound power press price pride prime
print prize proof proud prove pupil queen quick quiet quilt quote radar radio raise ranch range
rapid ratio reach react ready relax reply rider ridge right rival river roast robot rocky rough
round route royal rural salad sauce scale scene scope score scout screw sense serve seven shade
shake shape share shark sharp sheep sheet shelf shell shift shine shirt shock shore short sight
skill skirt slice slide slope smart smile smoke snack snake solar solid solve sound south space
spare spark speak speed spell spend spice spine spoon sport spray squad stack staff stage stair
stamp stand start state steam steel steep stick still stock stone storm story stove straw strip
study style sugar sunny super sweet swing sword table taste teach thank theme thick thumb tiger
title toast today token topic torch total touch tower track trade trail train treat trend trial
tribe trick truck truly trust truth tulip twice twist uncle under unity upper urban usual valid
value vapor video villa vinyl visit vital vivid vocal voice wagon waste watch water wheat wheel
whale while white whole woman world worry worth wound write wrong yacht yield young youth zebra
""".split()
