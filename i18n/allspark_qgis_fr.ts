<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="fr">
    <context>
        <name>AllSpark</name>
        <message>
            <source>Automatic</source>
            <translation>Automatique</translation>
        </message>
        <message>
            <source>CPU</source>
            <translation>CPU</translation>
        </message>
        <message>
            <source>CUDA (NVIDIA GPU)</source>
            <translation>CUDA (GPU NVIDIA)</translation>
        </message>
        <message>
            <source>Backend ready; the model is still loading (device: {device}); {n} bundle(s).</source>
            <translation>Serveur prêt ; le modèle se charge encore (périphérique : {device}) ; {n} paquet(s) de modèle.</translation>
        </message>
        <message>
            <source>Starting the AllSpark backend...</source>
            <translation>Démarrage du serveur AllSpark...</translation>
        </message>
        <message>
            <source>Starting the AllSpark backend</source>
            <translation>Démarrage du serveur AllSpark</translation>
        </message>
        <message>
            <source>Checking the AllSpark backend</source>
            <translation>Vérification du serveur AllSpark</translation>
        </message>
        <message>
            <source>Stopping the backend...</source>
            <translation>Arrêt du serveur...</translation>
        </message>
        <message>
            <source>Backend: not running</source>
            <translation>Serveur : arrêté</translation>
        </message>
        <message>
            <source>Backend: starting...</source>
            <translation>Serveur : démarrage...</translation>
        </message>
        <message>
            <source>Backend: ready</source>
            <translation>Serveur : prêt</translation>
        </message>
        <message>
            <source>Backend: unreachable</source>
            <translation>Serveur : injoignable</translation>
        </message>
        <message>
            <source>Backend: stopping...</source>
            <translation>Serveur : arrêt...</translation>
        </message>
        <message>
            <source>Backend ready on {device}; {n} bundle(s).</source>
            <translation>Serveur prêt sur {device} ; {n} paquet(s) de modèle.</translation>
        </message>
        <message>
            <source>Backend running, but its model could not be loaded: {error}</source>
            <translation>Le serveur tourne, mais son modèle n'a pas pu être chargé : {error}</translation>
        </message>
        <message>
            <source>Waiting for the backend to be ready</source>
            <translation>Attente de la disponibilité du serveur</translation>
        </message>
        <message>
            <source>The backend was not started by this plugin; it keeps running.</source>
            <translation>Le serveur n'a pas été démarré par cette extension ; il continue de fonctionner.</translation>
        </message>
        <message>
            <source>Backend stopped.</source>
            <translation>Serveur arrêté.</translation>
        </message>
        <message>
            <source>Stopping the AllSpark backend</source>
            <translation>Arrêt du serveur AllSpark</translation>
        </message>
        <message>
            <source>The backend's Python ({path}) does not exist; check AllSpark &gt; Settings.</source>
            <translation>Le Python du serveur ({path}) n'existe pas ; vérifiez AllSpark &gt; Paramètres.</translation>
        </message>
        <message>
            <source>Stopping the backend: {error}</source>
            <translation>Arrêt du serveur : {error}</translation>
        </message>
        <message>
            <source>No AllSpark backend can be reached. Start it from AllSpark &gt; Settings (Start backend), run `allspark serve` and point the settings (or ALLSPARK_CONNECTION_FILE) at its connection file.</source>
            <translation>Aucun serveur AllSpark n'est joignable. Démarrez-le depuis AllSpark &gt; Paramètres (Démarrer le serveur), ou lancez `allspark serve` et indiquez son fichier de connexion dans les paramètres (ou dans ALLSPARK_CONNECTION_FILE).</translation>
        </message>
        <message>
            <source>The Python package pyzmq is missing from QGIS's Python; install it (pip install pyzmq, or your system's python3-zmq package) and restart QGIS.</source>
            <translation>Le paquet Python pyzmq manque au Python de QGIS ; installez-le (pip install pyzmq, ou le paquet python3-zmq de votre système) puis redémarrez QGIS.</translation>
        </message>
        <message>
            <source>The AllSpark backend ({path}) does not answer: {error}</source>
            <translation>Le serveur AllSpark ({path}) ne répond pas : {error}</translation>
        </message>
        <message>
            <source>{layer} - {bundle}</source>
            <translation>{layer} - {bundle}</translation>
        </message>
        <message>
            <source>The layer has no rows of readings.</source>
            <translation>La couche n'a aucune ligne de mesures.</translation>
        </message>
        <message>
            <source>A sensor-network bundle trains on a table of readings (a column per sensor).</source>
            <translation>Un bundle de réseau de capteurs s'entraîne sur une table de mesures (une colonne par capteur).</translation>
        </message>
        <message>
            <source>Bundle '{name}' needs a table of sensor readings.</source>
            <translation>Le bundle « {name} » a besoin d'une table de mesures de capteurs.</translation>
        </message>
        <message>
            <source>Bundle '{name}' reads {count} sensors; this table lacks {missing} of them (e.g. {first}).</source>
            <translation>Le bundle « {name} » lit {count} capteurs ; il en manque {missing} dans cette table (par ex. {first}).</translation>
        </message>
        <message>
            <source>The sensors' places come from '{layer}': the road graph is made from the distances between them.</source>
            <translation>Les emplacements des capteurs viennent de « {layer} » : le graphe routier est construit à partir des distances entre eux.</translation>
        </message>
        <message>
            <source>{name} on {points}</source>
            <translation>{name} sur {points}</translation>
        </message>
        <message>
            <source>{name}, timeline</source>
            <translation>{name}, chronologie</translation>
        </message>
        <message>
            <source>A point-cloud bundle trains on a point-cloud layer.</source>
            <translation>Un paquet de nuage de points s'entraîne sur une couche de nuage de points.</translation>
        </message>
        <message>
            <source>The point cloud must be a LAS, LAZ or COPC file.</source>
            <translation>Le nuage de points doit être un fichier LAS, LAZ ou COPC.</translation>
        </message>
        <message>
            <source>the backend sent no point coordinates</source>
            <translation>le serveur n'a pas envoyé les coordonnées des points</translation>
        </message>
        <message>
            <source>{layer} - classes</source>
            <translation>{layer} - classes</translation>
        </message>
        <message>
            <source>Bundle '{name}' needs a point-cloud layer.</source>
            <translation>Le paquet « {name} » demande une couche de nuage de points.</translation>
        </message>
        <message>
            <source>Bundle '{name}' reads LAS, LAZ or COPC files; this layer's source ({source}) is not one of them.</source>
            <translation>Le paquet « {name} » lit des fichiers LAS, LAZ ou COPC ; la source de cette couche ({source}) n'en est pas un.</translation>
        </message>
        <message>
            <source>Training on a raster needs a labelled point or polygon layer (Labels).</source>
            <translation>L'entraînement sur un raster demande une couche de points ou de polygones étiquetés (Étiquettes).</translation>
        </message>
        <message>
            <source>Choose the labels' class field.</source>
            <translation>Choisissez le champ de classe des étiquettes.</translation>
        </message>
        <message>
            <source>Bundle '{name}' needs a raster layer.</source>
            <translation>Le paquet « {name} » demande une couche raster.</translation>
        </message>
        <message>
            <source>Bundle '{name}' needs {bands} band(s); this raster has {count}.</source>
            <translation>Le paquet « {name} » demande {bands} bande(s) ; ce raster en a {count}.</translation>
        </message>
        <message>
            <source>A {modality} bundle trains on a raster layer.</source>
            <translation>Un paquet {modality} s'entraîne sur une couche raster.</translation>
        </message>
        <message>
            <source>Patches per class: {counts}</source>
            <translation>Imagettes par classe : {counts}</translation>
        </message>
        <message>
            <source>The extent does not overlap the raster layer '{name}'.</source>
            <translation>L'emprise ne recouvre pas la couche raster « {name} ».</translation>
        </message>
        <message>
            <source>Classes from the field '{field}': {names}</source>
            <translation>Classes du champ « {field} » : {names}</translation>
        </message>
        <message>
            <source>A table bundle trains on a vector layer or table with a target field.</source>
            <translation>Un paquet de table s'entraîne sur une couche vecteur ou une table avec un champ cible.</translation>
        </message>
        <message>
            <source>Bundle '{name}' needs a vector layer or table.</source>
            <translation>Le paquet « {name} » demande une couche vecteur ou une table.</translation>
        </message>
        <message>
            <source>Bundle '{name}' needs the field(s) {fields}, which this layer lacks.</source>
            <translation>Le paquet « {name} » demande le(s) champ(s) {fields}, absents de cette couche.</translation>
        </message>
        <message>
            <source>The layer has no field '{field}'.</source>
            <translation>La couche n'a pas de champ « {field} ».</translation>
        </message>
        <message>
            <source>The layer has no text field.</source>
            <translation>La couche n'a pas de champ texte.</translation>
        </message>
        <message>
            <source>A text bundle trains on a layer or table with a text field and a label field.</source>
            <translation>Un bundle de texte s'entraîne sur une couche ou une table avec un champ texte et un champ d'étiquette.</translation>
        </message>
        <message>
            <source>The layer '{name}' has no features to send.</source>
            <translation>La couche « {name} » n'a aucune entité à envoyer.</translation>
        </message>
        <message>
            <source>Bundle '{name}' needs a layer or table with a text field.</source>
            <translation>Le bundle « {name} » a besoin d'une couche ou d'une table avec un champ texte.</translation>
        </message>
        <message>
            <source>Feature {fid} of '{layer}' has no text in the field '{field}'.</source>
            <translation>L'entité {fid} de « {layer} » n'a pas de texte dans le champ « {field} ».</translation>
        </message>
        <message>
            <source>A trajectory bundle trains on a point or line layer.</source>
            <translation>Un paquet de trajectoires s'entraîne sur une couche de points ou de lignes.</translation>
        </message>
        <message>
            <source>{layer} - predicted paths</source>
            <translation>{layer} - trajectoires prédites</translation>
        </message>
        <message>
            <source>Bundle '{name}' needs a point or line layer with a time field and an id field.</source>
            <translation>Le paquet « {name} » demande une couche de points ou de lignes avec un champ de temps et un champ d'identifiant.</translation>
        </message>
        <message>
            <source>The layer '{name}' needs a time field and a track id field.</source>
            <translation>La couche « {name} » a besoin d'un champ de temps et d'un champ d'identifiant de trace.</translation>
        </message>
        <message>
            <source>The layer '{name}' needs a time field and an id field to be read as trajectories.</source>
            <translation>La couche « {name} » doit avoir un champ de temps et un champ d'identifiant pour être lue comme des trajectoires.</translation>
        </message>
        <message>
            <source>The layer has no field of video clip paths (.mp4, .avi, .mkv, .mov, .webm).</source>
            <translation>La couche n'a pas de champ de chemins de clips vidéo (.mp4, .avi, .mkv, .mov, .webm).</translation>
        </message>
        <message>
            <source>A video bundle trains on a layer or table with a field of video clip paths and a label field.</source>
            <translation>Un bundle vidéo s'entraîne sur une couche ou une table avec un champ de chemins de clips vidéo et un champ d'étiquette.</translation>
        </message>
        <message>
            <source>Bundle '{name}' needs a layer or table with a field of video clip paths.</source>
            <translation>Le bundle « {name} » a besoin d'une couche ou d'une table avec un champ de chemins de clips vidéo.</translation>
        </message>
        <message>
            <source>{n} clips from the field '{field}'.</source>
            <translation>{n} clips du champ « {field} ».</translation>
        </message>
        <message>
            <source>Feature {fid} of '{layer}' has no video clip in the field '{field}'.</source>
            <translation>L'entité {fid} de « {layer} » n'a pas de clip vidéo dans le champ « {field} ».</translation>
        </message>
        <message>
            <source>Feature {fid} of '{layer}': the video clip '{value}' (field '{field}') is not there: {path}</source>
            <translation>Entité {fid} de « {layer} » : le clip vidéo « {value} » (champ « {field} ») est introuvable : {path}</translation>
        </message>
        <message>
            <source>Feature {fid} of '{layer}' has no label in the field '{field}'.</source>
            <translation>L'entité {fid} de « {layer} » n'a pas d'étiquette dans le champ « {field} ».</translation>
        </message>
        <message>
            <source>not detected</source>
            <translation>non détectée</translation>
        </message>
        <message>
            <source>AllSpark</source>
            <translation>AllSpark</translation>
        </message>
        <message>
            <source>Start</source>
            <translation>Démarrer</translation>
        </message>
        <message>
            <source>Start or reconnect to the backend</source>
            <translation>Démarrer le serveur ou s'y reconnecter</translation>
        </message>
        <message>
            <source>Layer</source>
            <translation>Couche</translation>
        </message>
        <message>
            <source>Modality</source>
            <translation>Modalité</translation>
        </message>
        <message>
            <source>Reload the bundle list from the backend</source>
            <translation>Recharger la liste des paquets depuis le serveur</translation>
        </message>
        <message>
            <source>Bundle</source>
            <translation>Paquet</translation>
        </message>
        <message>
            <source>Layer extent</source>
            <translation>Emprise de la couche</translation>
        </message>
        <message>
            <source>Map canvas extent</source>
            <translation>Emprise du canevas</translation>
        </message>
        <message>
            <source>Selected features</source>
            <translation>Entités sélectionnées</translation>
        </message>
        <message>
            <source>Extent</source>
            <translation>Emprise</translation>
        </message>
        <message>
            <source>(no limit)</source>
            <translation>(aucune limite)</translation>
        </message>
        <message>
            <source>Only the pixels inside the selected polygons of this layer are used, and the areas in the answer are theirs.</source>
            <translation>Seuls les pixels à l'intérieur des polygones sélectionnés de cette couche sont utilisés, et les surfaces de la réponse sont les leurs.</translation>
        </message>
        <message>
            <source>Limit to selected polygons of</source>
            <translation>Limiter aux polygones sélectionnés de</translation>
        </message>
        <message>
            <source>(this layer only)</source>
            <translation>(cette couche seule)</translation>
        </message>
        <message>
            <source>One written question about the layer and these layers at once: each is read by the first bundle of its modality and the LLM reads them side by side.</source>
            <translation>Une seule question écrite sur la couche et ces couches à la fois : chacune est lue par le premier bundle de sa modalité et le LLM les lit côte à côte.</translation>
        </message>
        <message>
            <source>Ask together with</source>
            <translation>Interroger avec</translation>
        </message>
        <message>
            <source>Train a bundle on this layer...</source>
            <translation>Entraîner un paquet sur cette couche...</translation>
        </message>
        <message>
            <source>Open the 'Train a bundle' algorithm with this layer filled in</source>
            <translation>Ouvrir l'algorithme « Entraîner un paquet » avec cette couche déjà choisie</translation>
        </message>
        <message>
            <source>The bundle's prompts</source>
            <translation>Les invites du paquet</translation>
        </message>
        <message>
            <source>Ask something about the layer...</source>
            <translation>Posez une question sur la couche...</translation>
        </message>
        <message>
            <source>Answer in words</source>
            <translation>Répondre en toutes lettres</translation>
        </message>
        <message>
            <source>Add results as layers</source>
            <translation>Ajouter les résultats comme couches</translation>
        </message>
        <message>
            <source>Run</source>
            <translation>Exécuter</translation>
        </message>
        <message>
            <source>Cancel</source>
            <translation>Annuler</translation>
        </message>
        <message>
            <source>The answer appears here.</source>
            <translation>La réponse s'affiche ici.</translation>
        </message>
        <message>
            <source>History</source>
            <translation>Historique</translation>
        </message>
        <message>
            <source>Clear history</source>
            <translation>Effacer l'historique</translation>
        </message>
        <message>
            <source>Choose a layer.</source>
            <translation>Choisissez une couche.</translation>
        </message>
        <message>
            <source>Start the backend first.</source>
            <translation>Démarrez d'abord le serveur.</translation>
        </message>
        <message>
            <source>Sending to the backend...</source>
            <translation>Envoi au serveur...</translation>
        </message>
        <message>
            <source>Cancelled.</source>
            <translation>Annulé.</translation>
        </message>
        <message>
            <source>Time field</source>
            <translation>Champ de temps</translation>
        </message>
        <message>
            <source>Track id field</source>
            <translation>Champ d'identifiant de trace</translation>
        </message>
        <message>
            <source>(choose the modality)</source>
            <translation>(choisissez la modalité)</translation>
        </message>
        <message>
            <source>Ask the bundle about the layer</source>
            <translation>Interroger le paquet sur la couche</translation>
        </message>
        <message>
            <source>Cancelling...</source>
            <translation>Annulation...</translation>
        </message>
        <message>
            <source>Done.</source>
            <translation>Terminé.</translation>
        </message>
        <message>
            <source>Auto ({modality})</source>
            <translation>Automatique ({modality})</translation>
        </message>
        <message>
            <source>Choose the modality by hand</source>
            <translation>Choisir la modalité à la main</translation>
        </message>
        <message>
            <source>AllSpark: {bundle} on {layer}</source>
            <translation>AllSpark : {bundle} sur {layer}</translation>
        </message>
        <message>
            <source>About the layer '{layer}', chosen before:</source>
            <translation>À propos de la couche « {layer} », choisie auparavant :</translation>
        </message>
        <message>
            <source>AllSpark answered about '{layer}'.</source>
            <translation>AllSpark a répondu au sujet de « {layer} ».</translation>
        </message>
        <message>
            <source>(no {modality} bundle)</source>
            <translation>(aucun paquet {modality})</translation>
        </message>
        <message>
            <source>Writing the answer...</source>
            <translation>Rédaction de la réponse...</translation>
        </message>
        <message>
            <source>The results could not be added as layers: {error}</source>
            <translation>Les résultats n'ont pas pu être ajoutés comme couches : {error}</translation>
        </message>
        <message>
            <source>Added layers: {names}</source>
            <translation>Couches ajoutées : {names}</translation>
        </message>
        <message>
            <source>AllSpark Settings</source>
            <translation>Paramètres d'AllSpark</translation>
        </message>
        <message>
            <source>Start the backend</source>
            <translation>Démarrer le serveur</translation>
        </message>
        <message>
            <source>The Python of an environment where the allspark backend is installed (e.g. .venv/bin/python); the plugin runs `python -m allspark serve`.</source>
            <translation>Le Python d'un environnement où le serveur allspark est installé (par exemple .venv/bin/python) ; l'extension lance `python -m allspark serve`.</translation>
        </message>
        <message>
            <source>Backend Python</source>
            <translation>Python du serveur</translation>
        </message>
        <message>
            <source>Device</source>
            <translation>Périphérique</translation>
        </message>
        <message>
            <source>GGUF models (*.gguf)</source>
            <translation>Modèles GGUF (*.gguf)</translation>
        </message>
        <message>
            <source>default (Gemma 3 270M)</source>
            <translation>par défaut (Gemma 3 270M)</translation>
        </message>
        <message>
            <source>LLM file</source>
            <translation>Fichier du LLM</translation>
        </message>
        <message>
            <source>Bundles folder</source>
            <translation>Dossier des paquets</translation>
        </message>
        <message>
            <source>Start the backend when QGIS starts</source>
            <translation>Démarrer le serveur au lancement de QGIS</translation>
        </message>
        <message>
            <source>Or connect to a running backend</source>
            <translation>Ou se connecter à un serveur déjà lancé</translation>
        </message>
        <message>
            <source>Connection files (*.json)</source>
            <translation>Fichiers de connexion (*.json)</translation>
        </message>
        <message>
            <source>default connection file</source>
            <translation>fichier de connexion par défaut</translation>
        </message>
        <message>
            <source>Connection file</source>
            <translation>Fichier de connexion</translation>
        </message>
        <message>
            <source>Request time limit</source>
            <translation>Délai maximal d'une requête</translation>
        </message>
        <message>
            <source>Start backend</source>
            <translation>Démarrer le serveur</translation>
        </message>
        <message>
            <source>Stop backend</source>
            <translation>Arrêter le serveur</translation>
        </message>
        <message>
            <source>{done} of {total} blocks</source>
            <translation>{done} blocs sur {total}</translation>
        </message>
        <message>
            <source>{done} of {total} tiles</source>
            <translation>{done} tuiles sur {total}</translation>
        </message>
        <message>
            <source>Working...</source>
            <translation>En cours...</translation>
        </message>
        <message>
            <source>{done} of {total} pixels</source>
            <translation>{done} pixels sur {total}</translation>
        </message>
        <message>
            <source>{done} pixels</source>
            <translation>{done} pixels</translation>
        </message>
        <message>
            <source>{done} tiles</source>
            <translation>{done} tuiles</translation>
        </message>
        <message>
            <source>{done} of {total} rows</source>
            <translation>{done} lignes sur {total}</translation>
        </message>
        <message>
            <source>{done} rows</source>
            <translation>{done} lignes</translation>
        </message>
        <message>
            <source>{done} of {total} tracks</source>
            <translation>{done} traces sur {total}</translation>
        </message>
        <message>
            <source>{done} tracks</source>
            <translation>{done} traces</translation>
        </message>
        <message>
            <source>Starting...</source>
            <translation>Démarrage...</translation>
        </message>
        <message>
            <source>part {done} of {total}</source>
            <translation>partie {done} sur {total}</translation>
        </message>
        <message>
            <source>{count} ({part})</source>
            <translation>{count} ({part})</translation>
        </message>
        <message>
            <source>date-times</source>
            <translation>dates-heures</translation>
        </message>
        <message>
            <source>seconds</source>
            <translation>secondes</translation>
        </message>
        <message>
            <source>The layer to limit the question to is missing or invalid.</source>
            <translation>La couche à laquelle limiter la question est absente ou invalide.</translation>
        </message>
        <message>
            <source>The frame rate must be a positive number of frames per second.</source>
            <translation>La cadence doit être un nombre positif d'images par seconde.</translation>
        </message>
        <message>
            <source>frames at {rate} per second</source>
            <translation>images à {rate} par seconde</translation>
        </message>
        <message>
            <source>The raster layer '{name}' has no pixels.</source>
            <translation>La couche raster « {name} » n'a aucun pixel.</translation>
        </message>
        <message>
            <source>Every pixel of '{name}' in this extent is nodata.</source>
            <translation>Tous les pixels de « {name} » dans cette emprise sont sans données.</translation>
        </message>
        <message>
            <source>The layer '{name}' holds no polygons: a question is limited to the selected polygons of a polygon layer.</source>
            <translation>La couche « {name} » ne contient pas de polygones : une question se limite aux polygones sélectionnés d'une couche de polygones.</translation>
        </message>
        <message>
            <source>No polygon of the layer '{name}' is selected: select the polygons to limit the question to.</source>
            <translation>Aucun polygone de la couche « {name} » n'est sélectionné : sélectionnez les polygones auxquels limiter la question.</translation>
        </message>
        <message>
            <source>The selected polygons of the layer '{region}' do not overlap the raster layer '{name}'{extent}.</source>
            <translation>Les polygones sélectionnés de la couche « {region} » ne recouvrent pas la couche raster « {name} »{extent}.</translation>
        </message>
        <message>
            <source>The layer '{name}' lacks the field(s) {fields}.</source>
            <translation>Il manque à la couche « {name} » le(s) champ(s) {fields}.</translation>
        </message>
        <message>
            <source>Unknown time unit '{units}' (one of: {known}).</source>
            <translation>Unité de temps inconnue « {units} » (au choix : {known}).</translation>
        </message>
        <message>
            <source>The time field '{field}' of layer '{name}' holds numbers, not date-times: say whether they are seconds or frame numbers.</source>
            <translation>Le champ de temps « {field} » de la couche « {name} » contient des nombres, pas des dates-heures : précisez s'il s'agit de secondes ou de numéros d'image.</translation>
        </message>
        <message>
            <source>The time field '{field}' of layer '{name}' holds date-times, not {units}.</source>
            <translation>Le champ de temps « {field} » de la couche « {name} » contient des dates-heures, pas des {units}.</translation>
        </message>
        <message>
            <source>The layer '{name}' has no field '{field}'.</source>
            <translation>La couche « {name} » n'a pas de champ « {field} ».</translation>
        </message>
        <message>
            <source>The layer '{name}' has no fixes with a time and a track id.</source>
            <translation>La couche « {name} » n'a aucun point ayant à la fois un temps et un identifiant de trace.</translation>
        </message>
        <message>
            <source>The point cloud '{name}' is not a LAS, LAZ or COPC file ({path}); AllSpark reads only those.</source>
            <translation>Le nuage de points « {name} » n'est pas un fichier LAS, LAZ ou COPC ({path}) ; AllSpark ne lit que ces formats.</translation>
        </message>
        <message>
            <source>The point cloud file {path} does not exist.</source>
            <translation>Le fichier de nuage de points {path} n'existe pas.</translation>
        </message>
        <message>
            <source>Cannot read band {band} of the raster.</source>
            <translation>Impossible de lire la bande {band} du raster.</translation>
        </message>
        <message>
            <source>The polygons of the layer '{name}' cannot be placed in the raster's coordinate reference system: {error}</source>
            <translation>Les polygones de la couche « {name} » ne peuvent pas être placés dans le système de coordonnées du raster : {error}</translation>
        </message>
        <message>
            <source>Feature {fid} of the layer '{name}' has no geometry.</source>
            <translation>L'entité {fid} de la couche « {name} » n'a pas de géométrie.</translation>
        </message>
        <message>
            <source>Polygon {fid} of the layer '{name}' is invalid ({error}); fix it first, e.g. with Processing's 'Fix geometries'.</source>
            <translation>Le polygone {fid} de la couche « {name} » est invalide ({error}) ; corrigez-le d'abord, par exemple avec l'outil de traitement « Réparer les géométries ».</translation>
        </message>
        <message>
            <source> in this extent</source>
            <translation> dans cette emprise</translation>
        </message>
        <message>
            <source>frame numbers</source>
            <translation>numéros d'image</translation>
        </message>
        <message>
            <source>RGB</source>
            <translation>RVB</translation>
        </message>
        <message>
            <source>Multispectral</source>
            <translation>Multispectral</translation>
        </message>
        <message>
            <source>Hyperspectral</source>
            <translation>Hyperspectral</translation>
        </message>
        <message>
            <source>SAR</source>
            <translation>RSO (SAR)</translation>
        </message>
        <message>
            <source>Table</source>
            <translation>Table</translation>
        </message>
        <message>
            <source>Trajectory</source>
            <translation>Trajectoire</translation>
        </message>
        <message>
            <source>Point cloud</source>
            <translation>Nuage de points</translation>
        </message>
        <message>
            <source>Sensor network</source>
            <translation>Réseau de capteurs</translation>
        </message>
        <message>
            <source>Text</source>
            <translation>Texte</translation>
        </message>
        <message>
            <source>Video</source>
            <translation>Vidéo</translation>
        </message>
        <message>
            <source>Code</source>
            <translation>Code</translation>
        </message>
        <message>
            <source>Oblique photography</source>
            <translation>Photographie oblique</translation>
        </message>
        <message>
            <source>Infrared</source>
            <translation>Infrarouge</translation>
        </message>
        <message>
            <source>an RGB image</source>
            <translation>une image RVB</translation>
        </message>
        <message>
            <source>a multispectral raster</source>
            <translation>un raster multispectral</translation>
        </message>
        <message>
            <source>a hyperspectral raster</source>
            <translation>un raster hyperspectral</translation>
        </message>
        <message>
            <source>a SAR image</source>
            <translation>une image radar (SAR)</translation>
        </message>
        <message>
            <source>a table</source>
            <translation>une table</translation>
        </message>
        <message>
            <source>a trajectory layer (points with a time and a track id)</source>
            <translation>une couche de trajectoires (des points avec un temps et un identifiant de trace)</translation>
        </message>
        <message>
            <source>a point cloud</source>
            <translation>un nuage de points</translation>
        </message>
        <message>
            <source>a table of sensor readings over time (a column per sensor)</source>
            <translation>une table de mesures de capteurs dans le temps (une colonne par capteur)</translation>
        </message>
        <message>
            <source>a layer or table with a text field (reports, comments, reviews)</source>
            <translation>une couche ou une table avec un champ texte (rapports, commentaires, avis)</translation>
        </message>
        <message>
            <source>a layer or table with a field of video clip paths</source>
            <translation>une couche ou une table avec un champ de chemins de clips vidéo</translation>
        </message>
        <message>
            <source>AllSpark does not read this kind of layer.</source>
            <translation>AllSpark ne lit pas ce type de couche.</translation>
        </message>
        <message>
            <source>a layer AllSpark cannot tell the modality of</source>
            <translation>une couche dont AllSpark ne peut pas reconnaître la modalité</translation>
        </message>
        <message>
            <source>No {modality} bundle is installed, so AllSpark cannot answer about this layer yet.</source>
            <translation>Aucun paquet {modality} n'est installé : AllSpark ne peut pas encore répondre sur cette couche.</translation>
        </message>
        <message>
            <source> (1 band)</source>
            <translation> (1 bande)</translation>
        </message>
        <message>
            <source>Train one on this layer, or, if '{modality}' is wrong, choose the modality by hand.</source>
            <translation>Entraînez-en un sur cette couche ou, si « {modality} » est faux, choisissez la modalité à la main.</translation>
        </message>
        <message>
            <source>AllSpark cannot tell what this raster holds from its {count} band(s) ({dtype}): choose the modality by hand.</source>
            <translation>AllSpark ne peut pas savoir ce que contient ce raster d'après ses {count} bande(s) ({dtype}) : choisissez la modalité à la main.</translation>
        </message>
        <message>
            <source>AllSpark does not read this kind of layer; bundle '{name}' needs {want}.</source>
            <translation>AllSpark ne lit pas ce type de couche ; le paquet « {name} » attend {want}.</translation>
        </message>
        <message>
            <source>Bundle '{name}' needs {want}. {reason}</source>
            <translation>Le paquet « {name} » attend {want}. {reason}</translation>
        </message>
        <message>
            <source>Bundle '{name}' needs {want}, but this layer looks like {have}{detail}.</source>
            <translation>Le paquet « {name} » attend {want}, mais cette couche ressemble à {have}{detail}.</translation>
        </message>
        <message>
            <source>Train one on this layer: draw points or polygons on it in a new layer with a class field, then train a bundle from them. If '{modality}' is wrong, choose the modality by hand.</source>
            <translation>Entraînez-en un sur cette couche : dessinez des points ou des polygones par-dessus dans une nouvelle couche avec un champ de classe, puis entraînez un paquet à partir d'eux. Si « {modality} » est faux, choisissez la modalité à la main.</translation>
        </message>
        <message>
            <source> ({count} bands)</source>
            <translation> ({count} bandes)</translation>
        </message>
        <message>
            <source>Ask AllSpark...</source>
            <translation>Demander à AllSpark...</translation>
        </message>
        <message>
            <source>Open the AllSpark prompt panel</source>
            <translation>Ouvrir le panneau d'invite AllSpark</translation>
        </message>
        <message>
            <source>Start Backend</source>
            <translation>Démarrer le serveur</translation>
        </message>
        <message>
            <source>Stop Backend</source>
            <translation>Arrêter le serveur</translation>
        </message>
        <message>
            <source>Settings...</source>
            <translation>Paramètres...</translation>
        </message>
        <message>
            <source>Diagnostics...</source>
            <translation>Diagnostic...</translation>
        </message>
        <message>
            <source>Write a report for a bug report (versions, device, backend log)</source>
            <translation>Écrire un rapport pour signaler un bogue (versions, périphérique, journal du serveur)</translation>
        </message>
        <message>
            <source>Train a Bundle...</source>
            <translation>Entraîner un paquet...</translation>
        </message>
        <message>
            <source>AllSpark backend status</source>
            <translation>État du serveur AllSpark</translation>
        </message>
        <message>
            <source>The AllSpark Processing provider is already registered.</source>
            <translation>Le fournisseur de traitements AllSpark est déjà enregistré.</translation>
        </message>
        <message>
            <source>Set the backend's Python in AllSpark &gt; Settings first (or a connection file).</source>
            <translation>Indiquez d'abord le Python du serveur dans AllSpark &gt; Paramètres (ou un fichier de connexion).</translation>
        </message>
        <message>
            <source>AllSpark Diagnostics</source>
            <translation>Diagnostic d'AllSpark</translation>
        </message>
        <message>
            <source>AllSpark diagnostics</source>
            <translation>Diagnostic d'AllSpark</translation>
        </message>
        <message>
            <source>Diagnostics written to {path}</source>
            <translation>Diagnostic écrit dans {path}</translation>
        </message>
        <message>
            <source>The report was written to {path}.</source>
            <translation>Le rapport a été écrit dans {path}.</translation>
        </message>
        <message>
            <source>Raster</source>
            <translation>Raster</translation>
        </message>
        <message>
            <source>Limit to the selected features of this polygon layer</source>
            <translation>Limiter aux entités sélectionnées de cette couche de polygones</translation>
        </message>
        <message>
            <source>Run on a Ray cluster: empty = in the backend (default), local = a local Ray, or a cluster address</source>
            <translation>Exécuter sur un cluster Ray : vide = dans le serveur (par défaut), local = un Ray local, ou l'adresse d'un cluster</translation>
        </message>
        <message>
            <source>local starts Ray on the backend's machine; an address (host:port) joins a running Ray cluster whose nodes see the raster and the bundle at the same paths. Each Ray worker holds one model and classifies many windows; the output is a label GeoTIFF on the input's grid.</source>
            <translation>local démarre Ray sur la machine du serveur ; une adresse (hôte:port) rejoint un cluster Ray en marche dont les nœuds voient le raster et le paquet de modèle aux mêmes chemins. Chaque worker Ray garde un modèle et classe de nombreuses fenêtres ; le résultat est un GeoTIFF de classes sur la grille de l'entrée.</translation>
        </message>
        <message>
            <source>a local Ray</source>
            <translation>un Ray local</translation>
        </message>
        <message>
            <source>Input raster</source>
            <translation>Raster en entrée</translation>
        </message>
        <message>
            <source>Extent (default: the whole raster)</source>
            <translation>Emprise (par défaut : tout le raster)</translation>
        </message>
        <message>
            <source>Classified raster</source>
            <translation>Raster classé</translation>
        </message>
        <message>
            <source>Class names</source>
            <translation>Noms des classes</translation>
        </message>
        <message>
            <source>Running bundle {name} on Ray ({where}).</source>
            <translation>Exécution du paquet de modèle {name} sur Ray ({where}).</translation>
        </message>
        <message>
            <source>Ray: {workers} workers, {tasks} windows, {seconds} s.</source>
            <translation>Ray : {workers} workers, {tasks} fenêtres, {seconds} s.</translation>
        </message>
        <message>
            <source>Running on Ray needs a raster file the backend can read; the layer '{name}' is not a local file.</source>
            <translation>L'exécution sur Ray demande un fichier raster que le serveur peut lire ; la couche « {name} » n'est pas un fichier local.</translation>
        </message>
        <message>
            <source>Ask about a layer</source>
            <translation>Interroger sur une couche</translation>
        </message>
        <message>
            <source>Sends the layer (a raster extent, the attribute rows, the tracks or the point-cloud file) with a prompt to a bundle of its modality; the answer is written in words by the LLM. Without a bundle, the first bundle of the layer's detected modality is used; without a prompt, the bundle's own prompt. A raster question may be limited to the selected polygons of another layer (a field, a parcel). With other layers, one question is asked about all of them at once: each layer is read by the first bundle of its modality, and the LLM reads them side by side.</source>
            <translation>Envoie la couche (une emprise de raster, les lignes attributaires, les traces ou le fichier de nuage de points) avec une question à un bundle de sa modalité ; la réponse est rédigée par le LLM. Sans bundle, le premier bundle de la modalité détectée est utilisé ; sans question, la question propre au bundle. Une question sur un raster peut être limitée aux polygones sélectionnés d'une autre couche (un champ, une parcelle). Avec d'autres couches, une seule question porte sur toutes à la fois : chaque couche est lue par le premier bundle de sa modalité, et le LLM les lit côte à côte.</translation>
        </message>
        <message>
            <source>Modality (default: detected from the layer)</source>
            <translation>Modalité (par défaut : détectée d'après la couche)</translation>
        </message>
        <message>
            <source>What do these layers show, and how do they relate?</source>
            <translation>Que montrent ces couches, et quel lien ont-elles ?</translation>
        </message>
        <message>
            <source>Prompt</source>
            <translation>Invite</translation>
        </message>
        <message>
            <source>Also ask about these layers (one question about all of them)</source>
            <translation>Interroger aussi ces couches (une seule question pour toutes)</translation>
        </message>
        <message>
            <source>Longest answer (tokens)</source>
            <translation>Réponse la plus longue (jetons)</translation>
        </message>
        <message>
            <source>Answer file</source>
            <translation>Fichier de réponse</translation>
        </message>
        <message>
            <source>Text files (*.txt)</source>
            <translation>Fichiers texte (*.txt)</translation>
        </message>
        <message>
            <source>Answer</source>
            <translation>Réponse</translation>
        </message>
        <message>
            <source>Head result in words</source>
            <translation>Résultat de la tête en toutes lettres</translation>
        </message>
        <message>
            <source>Bundle used</source>
            <translation>Paquet utilisé</translation>
        </message>
        <message>
            <source>Only a question about a raster can be limited to polygons.</source>
            <translation>Seule une question sur un raster peut être limitée à des polygones.</translation>
        </message>
        <message>
            <source>The input layer is missing or invalid.</source>
            <translation>La couche en entrée est absente ou invalide.</translation>
        </message>
        <message>
            <source>Asking bundle {name}...</source>
            <translation>Interrogation du paquet {name}...</translation>
        </message>
        <message>
            <source>Answer: {text}</source>
            <translation>Réponse : {text}</translation>
        </message>
        <message>
            <source>Asking one question about {names}...</source>
            <translation>Une question sur {names}...</translation>
        </message>
        <message>
            <source>The backend has no bundle for {modality} layers.</source>
            <translation>Le serveur n'a aucun paquet pour les couches {modality}.</translation>
        </message>
        <message>
            <source>One question can hold at most {n} other layers.</source>
            <translation>Une question peut porter sur au plus {n} autres couches.</translation>
        </message>
        <message>
            <source>The backend has no bundle named '{name}'.</source>
            <translation>Le serveur n'a pas de paquet nommé « {name} ».</translation>
        </message>
        <message>
            <source>The backend has no bundle for the layer '{name}' ({modality}).</source>
            <translation>Le backend n'a aucun bundle pour la couche « {name} » ({modality}).</translation>
        </message>
        <message>
            <source>The trained AllSpark bundle (encoder + bridge + head) to use; its name.</source>
            <translation>Le paquet AllSpark entraîné (encodeur + pont + tête) à utiliser ; son nom.</translation>
        </message>
        <message>
            <source>any layer</source>
            <translation>n'importe quelle couche</translation>
        </message>
        <message>
            <source>No bundle is selected, and the backend has none for {kinds}; train one on your layer with AllSpark &gt; Train a Bundle... or add one to the bundles folder.</source>
            <translation>Aucun paquet n'est choisi et le serveur n'en a aucun pour {kinds} ; entraînez-en un sur votre couche avec AllSpark &gt; Entraîner un paquet... ou ajoutez-en un au dossier des paquets.</translation>
        </message>
        <message>
            <source>Sends the raster block by block; the bundle classifies every valid pixel (hyperspectral bundles from its spectrum, dense bundles of any raster tile by tile). The output has the input's grid, nodata where the input is nodata, and the class names in its legend.</source>
            <translation>Envoie le raster bloc par bloc ; le bundle classe chaque pixel valide (les bundles hyperspectraux d'après son spectre, les bundles denses de tout raster tuile par tuile). La sortie a la grille de l'entrée, nodata là où l'entrée est nodata, et les noms des classes dans sa légende.</translation>
        </message>
        <message>
            <source>Classify pixels (per-pixel bundles)</source>
            <translation>Classer les pixels (bundles par pixel)</translation>
        </message>
        <message>
            <source>Bundle {name}: {w} x {h} pixels.</source>
            <translation>Paquet {name} : {w} x {h} pixels.</translation>
        </message>
        <message>
            <source>The backend reads the layer's LAS / LAZ / COPC file and classifies every point it keeps per tile. The output is a 3D point layer with the class of each point (styled by class). The backend can also write a classified copy of the point cloud (.las, .laz or .copc.laz): every point of the file with the ASPRS code of its class (ground 2, building 6, ...; a point not kept in its tile takes the class of the nearest kept point), its other attributes, the header and the CRS as they were. A LAS / LAZ file that this QGIS cannot open (no PDAL) can be given by its path: the backend converts it to COPC first (kept where the COPC copy parameter says, and loaded as a point cloud layer).</source>
            <translation>Le serveur lit le fichier LAS / LAZ / COPC de la couche et classe chaque point qu'il garde par tuile. La sortie est une couche de points 3D avec la classe de chaque point (symbolisée par classe). Le serveur peut aussi écrire une copie classée du nuage de points (.las, .laz ou .copc.laz) : chaque point du fichier avec le code ASPRS de sa classe (sol 2, bâtiment 6, ... ; un point non gardé dans sa tuile prend la classe du point gardé le plus proche), ses autres attributs, l'en-tête et le SCR tels quels. Un fichier LAS / LAZ que ce QGIS ne peut pas ouvrir (sans PDAL) peut être donné par son chemin : le serveur le convertit d'abord en COPC (copie gardée là où l'indique le paramètre « Copie COPC », et chargée comme couche de nuage de points).</translation>
        </message>
        <message>
            <source>Classify point cloud</source>
            <translation>Classer un nuage de points</translation>
        </message>
        <message>
            <source>Point cloud (a layer, or a LAS / LAZ file)</source>
            <translation>Nuage de points (une couche, ou un fichier LAS / LAZ)</translation>
        </message>
        <message>
            <source>A point cloud layer, or the path of a LAS / LAZ file; this QGIS opens only COPC point clouds (it has no PDAL provider), so a LAS / LAZ file is converted to COPC by the backend first.</source>
            <translation>Une couche de nuage de points, ou le chemin d'un fichier LAS / LAZ ; ce QGIS n'ouvre que les nuages de points COPC (il n'a pas de fournisseur PDAL), donc le serveur convertit d'abord un fichier LAS / LAZ en COPC.</translation>
        </message>
        <message>
            <source>Classified point cloud (LAS / LAZ copy of the input)</source>
            <translation>Nuage de points classé (copie LAS / LAZ de l'entrée)</translation>
        </message>
        <message>
            <source>LAZ files (*.laz);;LAS files (*.las);;COPC files (*.copc.laz)</source>
            <translation>Fichiers LAZ (*.laz);;Fichiers LAS (*.las);;Fichiers COPC (*.copc.laz)</translation>
        </message>
        <message>
            <source>A copy of the input point cloud, written by the backend, with the class of every point: .laz (compressed), .las, or .copc.laz (a COPC file this QGIS opens). Never the input itself.</source>
            <translation>Une copie du nuage de points d'entrée, écrite par le serveur, avec la classe de chaque point : .laz (compressé), .las ou .copc.laz (un fichier COPC que ce QGIS ouvre). Jamais l'entrée elle-même.</translation>
        </message>
        <message>
            <source>LAS / LAZ / COPC files (*.las *.laz *.LAS *.LAZ *.copc.laz)</source>
            <translation>Fichiers LAS / LAZ / COPC (*.las *.laz *.LAS *.LAZ *.copc.laz)</translation>
        </message>
        <message>
            <source>Classified points</source>
            <translation>Points classés</translation>
        </message>
        <message>
            <source>COPC copy of a LAS / LAZ input (viewable in this QGIS)</source>
            <translation>Copie COPC d'une entrée LAS / LAZ (affichable dans ce QGIS)</translation>
        </message>
        <message>
            <source>This QGIS cannot open LAS / LAZ files (it has no PDAL provider); the backend converts {path} to COPC first: {copc}</source>
            <translation>Ce QGIS ne peut pas ouvrir les fichiers LAS / LAZ (il n'a pas de fournisseur PDAL) ; le serveur convertit d'abord {path} en COPC : {copc}</translation>
        </message>
        <message>
            <source>The backend reads {path}.</source>
            <translation>Le serveur lit {path}.</translation>
        </message>
        <message>
            <source>The COPC copy {copc} of {path} does not open in QGIS: {error}</source>
            <translation>La copie COPC {copc} de {path} ne s'ouvre pas dans QGIS : {error}</translation>
        </message>
        <message>
            <source>The backend writes the classified point cloud to {path}.</source>
            <translation>Le serveur écrit le nuage de points classé dans {path}.</translation>
        </message>
        <message>
            <source>The backend did not write the classified point cloud {path}; update the backend.</source>
            <translation>Le serveur n'a pas écrit le nuage de points classé {path} ; mettez le serveur à jour.</translation>
        </message>
        <message>
            <source>Classified point cloud written: {path} ({classified} of {points} points classified).</source>
            <translation>Nuage de points classé écrit : {path} ({classified} points classés sur {points}).</translation>
        </message>
        <message>
            <source>Cuts the raster into tiles of the bundle's input size (or the given size), asks the bundle for the class of each tile, and writes a classified raster on the tile grid with the class names in its legend. Tiles that are all nodata stay nodata.</source>
            <translation>Découpe le raster en tuiles de la taille d'entrée du paquet (ou de la taille donnée), demande au paquet la classe de chaque tuile et écrit un raster classé sur la grille des tuiles, avec les noms des classes dans sa légende. Les tuiles entièrement sans données restent sans données.</translation>
        </message>
        <message>
            <source>Classify raster (tiled)</source>
            <translation>Classer un raster (par tuiles)</translation>
        </message>
        <message>
            <source>Tile size in pixels (0: the size of the bundle's training images)</source>
            <translation>Taille des tuiles en pixels (0 : la taille des images d'entraînement du paquet)</translation>
        </message>
        <message>
            <source>Bundle {name}: tiles of {tile} px over a window of {w} x {h} px.</source>
            <translation>Paquet {name} : tuiles de {tile} px sur une fenêtre de {w} x {h} px.</translation>
        </message>
        <message>
            <source>This QGIS opens point clouds only as COPC (Cloud Optimized Point Cloud) files: without the PDAL provider, plain LAS and LAZ files do not open. The AllSpark backend rewrites a LAS / LAZ file as COPC (*.copc.laz): every point with its coordinates and attributes, and the file's CRS. The result is loaded as a point cloud layer.</source>
            <translation>Ce QGIS n'ouvre les nuages de points qu'au format COPC (Cloud Optimized Point Cloud) : sans le fournisseur PDAL, les fichiers LAS et LAZ ordinaires ne s'ouvrent pas. Le serveur AllSpark réécrit un fichier LAS / LAZ en COPC (*.copc.laz) : chaque point avec ses coordonnées et ses attributs, et le SCR du fichier. Le résultat est chargé comme couche de nuage de points.</translation>
        </message>
        <message>
            <source>Convert LAS/LAZ to COPC</source>
            <translation>Convertir LAS/LAZ en COPC</translation>
        </message>
        <message>
            <source>LAS / LAZ file</source>
            <translation>Fichier LAS / LAZ</translation>
        </message>
        <message>
            <source>LAS / LAZ files (*.las *.laz *.LAS *.LAZ)</source>
            <translation>Fichiers LAS / LAZ (*.las *.laz *.LAS *.LAZ)</translation>
        </message>
        <message>
            <source>COPC file</source>
            <translation>Fichier COPC</translation>
        </message>
        <message>
            <source>Points</source>
            <translation>Points</translation>
        </message>
        <message>
            <source>Converting {path} to COPC: {copc}</source>
            <translation>Conversion de {path} en COPC : {copc}</translation>
        </message>
        <message>
            <source>{points} points in {nodes} octree nodes, CRS: {crs}.</source>
            <translation>{points} points dans {nodes} nœuds d'octree, SCR : {crs}.</translation>
        </message>
        <message>
            <source>{path} is not a LAS / LAZ file (*.las, *.laz).</source>
            <translation>{path} n'est pas un fichier LAS / LAZ (*.las, *.laz).</translation>
        </message>
        <message>
            <source>The LAS / LAZ file {path} does not exist.</source>
            <translation>Le fichier LAS / LAZ {path} n'existe pas.</translation>
        </message>
        <message>
            <source>The COPC file {copc} was written but does not open in QGIS: {error}</source>
            <translation>Le fichier COPC {copc} a été écrit mais ne s'ouvre pas dans QGIS : {error}</translation>
        </message>
        <message>
            <source>The COPC file {copc} holds {n} points, not the {m} of {path}.</source>
            <translation>Le fichier COPC {copc} contient {n} points, et non les {m} de {path}.</translation>
        </message>
        <message>
            <source>none</source>
            <translation>aucun</translation>
        </message>
        <message>
            <source>Computes the depth of every pixel of a reference view from overlapping oblique aerial images with known cameras, with an oblique photography bundle. The folder is a WHU-OMVS area (info/viewpair.txt, images/, cams/) or a folder of areas, or an MVSNet-style scene (cams/0000000X_cam.txt, images/, optionally pair.txt) or a folder of scenes. Each reference view is read with its best source views as the bundle was trained (views per sample, image size). The depth map is written as a float32 GeoTIFF (georeferenced like the reference image when that is a GeoTIFF, else on its pixel grid, one unit per pixel); pixels no source view sees are nodata. With more than one reference view, the others are written beside the output, named after their views.</source>
            <translation>Calcule la profondeur de chaque pixel d'une vue de référence à partir d'images aériennes obliques qui se recouvrent, aux caméras connues, avec un bundle de photographie oblique. Le dossier est une zone WHU-OMVS (info/viewpair.txt, images/, cams/) ou un dossier de zones, ou une scène de type MVSNet (cams/0000000X_cam.txt, images/, éventuellement pair.txt) ou un dossier de scènes. Chaque vue de référence est lue avec ses meilleures vues sources comme le bundle a été entraîné (vues par échantillon, taille d'image). La carte de profondeur est écrite en GeoTIFF float32 (géoréférencé comme l'image de référence lorsque c'est un GeoTIFF, sinon sur sa grille de pixels, une unité par pixel) ; les pixels qu'aucune vue source ne voit sont nodata. Avec plus d'une vue de référence, les autres sont écrites à côté de la sortie, nommées d'après leurs vues.</translation>
        </message>
        <message>
            <source>Depth from oblique images</source>
            <translation>Profondeur à partir d'images obliques</translation>
        </message>
        <message>
            <source>Reference views to compute (0: every view of the folder)</source>
            <translation>Vues de référence à calculer (0 : toutes les vues du dossier)</translation>
        </message>
        <message>
            <source>How many reference views get a depth map: the first view of each scene in turn, then each scene's second, ...; 0 computes one for every view.</source>
            <translation>Combien de vues de référence reçoivent une carte de profondeur : la première vue de chaque scène à tour de rôle, puis la deuxième de chaque scène, ... ; 0 en calcule une pour chaque vue.</translation>
        </message>
        <message>
            <source>Computing the depth maps...</source>
            <translation>Calcul des cartes de profondeur...</translation>
        </message>
        <message>
            <source>Folder of views and cameras (WHU-OMVS or MVSNet layout)</source>
            <translation>Dossier de vues et de caméras (organisation WHU-OMVS ou MVSNet)</translation>
        </message>
        <message>
            <source>Depth map</source>
            <translation>Carte de profondeur</translation>
        </message>
        <message>
            <source>Depth maps (every reference view)</source>
            <translation>Cartes de profondeur (chaque vue de référence)</translation>
        </message>
        <message>
            <source>Choose the folder of views and cameras.</source>
            <translation>Choisissez le dossier de vues et de caméras.</translation>
        </message>
        <message>
            <source>Bundle {name}: {views} views per reference view.</source>
            <translation>Bundle {name} : {views} vues par vue de référence.</translation>
        </message>
        <message>
            <source>Cannot write {path}: {error}</source>
            <translation>Impossible d'écrire {path} : {error}</translation>
        </message>
        <message>
            <source>{path} is not a folder.</source>
            <translation>{path} n'est pas un dossier.</translation>
        </message>
        <message>
            <source>The backend returned no depth map for {path}.</source>
            <translation>Le backend n'a renvoyé aucune carte de profondeur pour {path}.</translation>
        </message>
        <message>
            <source>Reference view {view}: {w} x {h} px, {share} % with a depth ({lo} to {hi}); written to {path}.</source>
            <translation>Vue de référence {view} : {w} x {h} px, {share} % avec une profondeur ({lo} à {hi}) ; écrite dans {path}.</translation>
        </message>
        <message>
            <source>Reference view {view}: no source view sees any of its pixels; {path} is all nodata.</source>
            <translation>Vue de référence {view} : aucune vue source ne voit ses pixels ; {path} est entièrement nodata.</translation>
        </message>
        <message>
            <source>Depth {view}</source>
            <translation>Profondeur {view}</translation>
        </message>
        <message>
            <source>Writes a one-sentence docstring for a script, an expression file or every script of a folder (Python, R, SQL, Ruby, JavaScript, QGIS expressions, ...), with a code bundle. With a search sentence, every script is also ranked by how close it is to the sentence (1 = the closest). The output is a table: file, function, docstring, similarity and rank.</source>
            <translation>Écrit une docstring d'une phrase pour un script, un fichier d'expression ou chaque script d'un dossier (Python, R, SQL, Ruby, JavaScript, expressions QGIS, ...), avec un bundle de code. Avec une phrase de recherche, chaque script est aussi classé selon sa proximité avec la phrase (1 = le plus proche). La sortie est une table : fichier, fonction, docstring, similarité et rang.</translation>
        </message>
        <message>
            <source>Describe and search scripts</source>
            <translation>Décrire et rechercher des scripts</translation>
        </message>
        <message>
            <source>The LLM reads and describes every script; this takes a few seconds each.</source>
            <translation>Le LLM lit et décrit chaque script ; cela prend quelques secondes par script.</translation>
        </message>
        <message>
            <source>Script or expression file</source>
            <translation>Script ou fichier d'expression</translation>
        </message>
        <message>
            <source>Folder of scripts</source>
            <translation>Dossier de scripts</translation>
        </message>
        <message>
            <source>Search sentence (optional)</source>
            <translation>Phrase de recherche (facultative)</translation>
        </message>
        <message>
            <source>Described scripts</source>
            <translation>Scripts décrits</translation>
        </message>
        <message>
            <source>Choose a script or a folder of scripts.</source>
            <translation>Choisissez un script ou un dossier de scripts.</translation>
        </message>
        <message>
            <source>Searches a folder of visible-light images of people (chips; or a folder per person; or a SYSU-MM01 folder) for the person in an infrared image, with an infrared re-identification bundle. The output is a table of the nearest images, best first: rank, file and distance (0 = the same appearance, 2 = the most different), and the person and camera where the gallery's folders name them.</source>
            <translation>Recherche, dans un dossier d'images de personnes en lumière visible (vignettes ; ou un dossier par personne ; ou un dossier SYSU-MM01), la personne d'une image infrarouge, avec un bundle de ré-identification infrarouge. La sortie est une table des images les plus proches, la meilleure d'abord : rang, fichier et distance (0 = même apparence, 2 = la plus différente), ainsi que la personne et la caméra lorsque les dossiers de la galerie les nomment.</translation>
        </message>
        <message>
            <source>Find a person in visible images</source>
            <translation>Retrouver une personne dans des images visibles</translation>
        </message>
        <message>
            <source>Infrared image of the person</source>
            <translation>Image infrarouge de la personne</translation>
        </message>
        <message>
            <source>One image file (JPEG, PNG, BMP, TIFF) taken in infrared light.</source>
            <translation>Un fichier image (JPEG, PNG, BMP, TIFF) pris en lumière infrarouge.</translation>
        </message>
        <message>
            <source>Folder of visible-light images</source>
            <translation>Dossier d'images en lumière visible</translation>
        </message>
        <message>
            <source>Image chips of people, a folder per person, or a SYSU-MM01 folder (cam1 .. cam6).</source>
            <translation>Vignettes de personnes, un dossier par personne, ou un dossier SYSU-MM01 (cam1 .. cam6).</translation>
        </message>
        <message>
            <source>Reading the gallery and ranking it for the person; a few images a second.</source>
            <translation>Lecture de la galerie et classement pour la personne ; quelques images par seconde.</translation>
        </message>
        <message>
            <source>Number of matches</source>
            <translation>Nombre de correspondances</translation>
        </message>
        <message>
            <source>Matches</source>
            <translation>Correspondances</translation>
        </message>
        <message>
            <source>Choose an infrared image and a folder of visible-light images.</source>
            <translation>Choisissez une image infrarouge et un dossier d'images en lumière visible.</translation>
        </message>
        <message>
            <source>The bundle '{name}' gave no ranking for the image.</source>
            <translation>Le bundle « {name} » n'a donné aucun classement pour l'image.</translation>
        </message>
        <message>
            <source>Predicts a value (regression, e.g. PM2.5 in ug/m3) or a class for every feature from the fields the bundle was trained on, or a class for every feature's text (a text bundle: reports, comments, reviews). The output is a copy of the layer with the prediction as new fields (&lt;target&gt;_pred, or pred_class and pred_prob).</source>
            <translation>Prédit une valeur (régression, p. ex. PM2.5 en ug/m3) ou une classe pour chaque entité à partir des champs sur lesquels le bundle a été entraîné, ou une classe pour le texte de chaque entité (un bundle de texte : rapports, commentaires, avis). La sortie est une copie de la couche avec la prédiction dans de nouveaux champs (&lt;target&gt;_pred, ou pred_class et pred_prob).</translation>
        </message>
        <message>
            <source>Vector</source>
            <translation>Vecteur</translation>
        </message>
        <message>
            <source>Predict attribute</source>
            <translation>Prédire un attribut</translation>
        </message>
        <message>
            <source>Input layer or table</source>
            <translation>Couche ou table en entrée</translation>
        </message>
        <message>
            <source>Predictions</source>
            <translation>Prédictions</translation>
        </message>
        <message>
            <source>{n} rows.</source>
            <translation>{n} lignes.</translation>
        </message>
        <message>
            <source>Detect (date-times; whole numbers in a 'frame' field are frames)</source>
            <translation>Détecter (dates-heures ; les entiers d'un champ « frame » sont des numéros d'image)</translation>
        </message>
        <message>
            <source>Seconds</source>
            <translation>Secondes</translation>
        </message>
        <message>
            <source>Frame numbers (at the frame rate below)</source>
            <translation>Numéros d'image (à la cadence ci-dessous)</translation>
        </message>
        <message>
            <source>Date-times</source>
            <translation>Dates-heures</translation>
        </message>
        <message>
            <source>Reads the tracks of a point layer (one fix per feature) or line layer (vertex times from M values, or from the time field), and predicts candidate future paths for each track. The output has one line per candidate with its rank (1 = most likely) and score (the scores of a track sum to 1), in the layer's CRS, starting at the track's last observed fix. Time and track id fields are found automatically when left empty; say what the time field holds (seconds, frame numbers at a rate, date-times) when detection gets it wrong.</source>
            <translation>Lit les traces d'une couche de points (une position par entité) ou de lignes (temps des sommets tirés des valeurs M ou du champ de temps) et prédit des chemins futurs candidats pour chaque trace. La sortie a une ligne par candidat avec son rang (1 = le plus probable) et son score (les scores d'une trace somment à 1), dans le SCR de la couche, à partir de la dernière position observée de la trace. Les champs de temps et d'identifiant de trace sont trouvés automatiquement s'ils sont laissés vides ; précisez ce que contient le champ de temps (secondes, numéros d'image à une cadence, dates-heures) quand la détection se trompe.</translation>
        </message>
        <message>
            <source>Time field holds</source>
            <translation>Le champ de temps contient</translation>
        </message>
        <message>
            <source>What the time field holds: seconds, frame numbers (at the frame rate below) or date-times. Detect reads date and time fields and text such as 2024-05-01T10:00:00 as date-times, whole numbers in a field named frame or frame_id as frames, and other numbers as seconds.</source>
            <translation>Ce que contient le champ de temps : des secondes, des numéros d'image (à la cadence ci-dessous) ou des dates-heures. « Détecter » lit les champs date et heure et les textes comme 2024-05-01T10:00:00 comme des dates-heures, les entiers d'un champ nommé frame ou frame_id comme des numéros d'image, et les autres nombres comme des secondes.</translation>
        </message>
        <message>
            <source>Frame rate (frames per second, for frame numbers)</source>
            <translation>Cadence (images par seconde, pour les numéros d'image)</translation>
        </message>
        <message>
            <source>Frames per second of the time field's frame numbers: 25 for ETH-UCY (10 frames = 0.4 s).</source>
            <translation>Images par seconde des numéros d'image du champ de temps : 25 pour ETH-UCY (10 images = 0,4 s).</translation>
        </message>
        <message>
            <source>Predict trajectories</source>
            <translation>Prédire des trajectoires</translation>
        </message>
        <message>
            <source>Trajectory layer</source>
            <translation>Couche de trajectoires</translation>
        </message>
        <message>
            <source>Predicted trajectories</source>
            <translation>Trajectoires prédites</translation>
        </message>
        <message>
            <source>{points} fixes in {tracks} tracks (time: {t}, as {units}; id: {i}).</source>
            <translation>{points} positions dans {tracks} traces (temps : {t}, en {units} ; identifiant : {i}).</translation>
        </message>
        <message>
            <source>{n} candidate paths for {tracks} tracks.</source>
            <translation>{n} trajectoires candidates pour {tracks} traces.</translation>
        </message>
        <message>
            <source>The layer '{name}' needs a time field and a track id field (none was given and none could be found).</source>
            <translation>La couche « {name} » a besoin d'un champ de temps et d'un champ d'identifiant de trace (aucun n'a été donné ni trouvé).</translation>
        </message>
        <message>
            <source>AllSpark multimodal model</source>
            <translation>Modèle multimodal AllSpark</translation>
        </message>
        <message>
            <source>Training</source>
            <translation>Entraînement</translation>
        </message>
        <message>
            <source>Train a bundle</source>
            <translation>Entraîner un paquet</translation>
        </message>
        <message>
            <source>Trains encoder, bridge and head against the backend's frozen LLM from your layers: a raster with a labelled point or polygon layer (RGB, multispectral and SAR learn one class per patch, hyperspectral one class per pixel; with "Classify every pixel" any raster learns a class per pixel, read in 16 x 16 px tiles, one LLM pass each), a trajectory layer (time and track id fields), a table with a target field (numbers: regression; text: classification), or a point cloud with a classification attribute (ground = 2). The bundle is written to the bundles folder and is listed right away.</source>
            <translation>Entraîne l'encodeur, le pont et la tête face au LLM figé du backend à partir de vos couches : un raster avec une couche de points ou de polygones étiquetés (RVB, multispectral et SAR apprennent une classe par vignette, l'hyperspectral une classe par pixel ; avec « Classer chaque pixel », tout raster apprend une classe par pixel, lu en tuiles de 16 x 16 px, un passage du LLM chacune), une couche de trajectoires (champs de temps et d'identifiant de trace), une table avec un champ cible (nombres : régression ; texte : classification), ou un nuage de points avec un attribut de classification (sol = 2). Le bundle est écrit dans le dossier des bundles et apparaît aussitôt dans les listes.</translation>
        </message>
        <message>
            <source>Training options (JSON)</source>
            <translation>Options d'entraînement (JSON)</translation>
        </message>
        <message>
            <source>Advanced settings passed to the backend's trainer, e.g. {"batch_size": 16, "lr": 0.0003, "max_samples": 2000, "bridge": {"queries": 16}}.</source>
            <translation>Réglages avancés transmis à l'entraîneur du serveur, par exemple {"batch_size": 16, "lr": 0.0003, "max_samples": 2000, "bridge": {"queries": 16}}.</translation>
        </message>
        <message>
            <source>Training layer</source>
            <translation>Couche d'entraînement</translation>
        </message>
        <message>
            <source>Labels (points or polygons, for a raster)</source>
            <translation>Étiquettes (points ou polygones, pour un raster)</translation>
        </message>
        <message>
            <source>Class field of the labels</source>
            <translation>Champ de classe des étiquettes</translation>
        </message>
        <message>
            <source>Target field (table)</source>
            <translation>Champ cible (table)</translation>
        </message>
        <message>
            <source>Time field (trajectory)</source>
            <translation>Champ de temps (trajectoire)</translation>
        </message>
        <message>
            <source>Track id field (trajectory)</source>
            <translation>Champ d'identifiant de trace (trajectoire)</translation>
        </message>
        <message>
            <source>Bundle name</source>
            <translation>Nom du paquet</translation>
        </message>
        <message>
            <source>Epochs</source>
            <translation>Époques</translation>
        </message>
        <message>
            <source>Patch size in pixels (RGB, multispectral, SAR)</source>
            <translation>Taille des imagettes en pixels (RVB, multispectral, RSO)</translation>
        </message>
        <message>
            <source>Classify every pixel (raster: dense tiles, one LLM pass per 16 x 16 px tile)</source>
            <translation>Classer chaque pixel (raster : tuiles denses, un passage du LLM par tuile de 16 x 16 px)</translation>
        </message>
        <message>
            <source>Bundles folder (default: the backend's)</source>
            <translation>Dossier des paquets (par défaut : celui du serveur)</translation>
        </message>
        <message>
            <source>Bundle folder</source>
            <translation>Dossier du paquet</translation>
        </message>
        <message>
            <source>Validation metrics (JSON)</source>
            <translation>Métriques de validation (JSON)</translation>
        </message>
        <message>
            <source>AllSpark cannot train on this kind of layer.</source>
            <translation>AllSpark ne peut pas s'entraîner sur ce type de couche.</translation>
        </message>
        <message>
            <source>Give the bundle a name without slashes.</source>
            <translation>Donnez au paquet un nom sans barre oblique.</translation>
        </message>
        <message>
            <source>Training options must be a JSON object.</source>
            <translation>Les options d'entraînement doivent être un objet JSON.</translation>
        </message>
        <message>
            <source>Training {name} ({modality}) on {data}</source>
            <translation>Entraînement de {name} ({modality}) sur {data}</translation>
        </message>
        <message>
            <source>New bundle {name} in {path}</source>
            <translation>Nouveau paquet {name} dans {path}</translation>
        </message>
        <message>
            <source>Unknown training option(s): {names}; known: {known}</source>
            <translation>Option(s) d'entraînement inconnue(s) : {names} ; options connues : {known}</translation>
        </message>
        <message>
            <source>Training options are not valid JSON: {error}</source>
            <translation>Les options d'entraînement ne sont pas du JSON valide : {error}</translation>
        </message>
        <message>
            <source>The backend sent no point coordinates with the classes (element_xyz); update the backend.</source>
            <translation>Le serveur n'a pas envoyé les coordonnées des points avec les classes (element_xyz) ; mettez le serveur à jour.</translation>
        </message>
        <message>
            <source>The backend sent paths relative to each track's last fix without the fixes; update the backend.</source>
            <translation>Le serveur a envoyé des chemins relatifs à la dernière position de chaque trace sans ces positions ; mettez le serveur à jour.</translation>
        </message>
        <message>
            <source>Cannot open {path}.</source>
            <translation>Impossible d'ouvrir {path}.</translation>
        </message>
        <message>
            <source>{name} (AllSpark)</source>
            <translation>{name} (AllSpark)</translation>
        </message>
        <message>
            <source>Cannot write {path}.</source>
            <translation>Impossible d'écrire {path}.</translation>
        </message>
        <message>
            <source>Reading {name}...</source>
            <translation>Lecture de {name}...</translation>
        </message>
        <message>
            <source>Sorting the points into an octree...</source>
            <translation>Rangement des points dans un octree...</translation>
        </message>
        <message>
            <source>COPC file written.</source>
            <translation>Fichier COPC écrit.</translation>
        </message>
        <message>
            <source>Starting a local Ray...</source>
            <translation>Démarrage d'un Ray local...</translation>
        </message>
        <message>
            <source>Writing the output...</source>
            <translation>Écriture du résultat...</translation>
        </message>
        <message>
            <source>Encoding the training examples once...</source>
            <translation>Encodage des exemples d'entraînement (une seule fois)...</translation>
        </message>
        <message>
            <source>Scoring the validation examples (they chose nothing)...</source>
            <translation>Évaluation sur les exemples de validation (ils n'ont servi à aucun choix)...</translation>
        </message>
        <message>
            <source>accuracy</source>
            <translation>exactitude</translation>
        </message>
        <message>
            <source>RMSE</source>
            <translation>RMSE</translation>
        </message>
        <message>
            <source>best-of-20 ADE (m)</source>
            <translation>ADE du meilleur des 20 (m)</translation>
        </message>
        <message>
            <source>{done} of {total} windows done on Ray</source>
            <translation>{done} fenêtres sur {total} traitées sur Ray</translation>
        </message>
        <message>
            <source>{done} of {total} files done on Ray</source>
            <translation>{done} fichiers sur {total} traités sur Ray</translation>
        </message>
        <message>
            <source>Writing octree node {done} of {total}</source>
            <translation>Écriture du nœud d'octree {done} sur {total}</translation>
        </message>
        <message>
            <source>Joining the Ray cluster at {address}...</source>
            <translation>Connexion au cluster Ray à {address}...</translation>
        </message>
        <message>
            <source>{n} Ray workers are loading bundle {name}...</source>
            <translation>{n} workers Ray chargent le paquet de modèle {name}...</translation>
        </message>
        <message>
            <source>Training on {train} examples; {select} choose the epochs, {val} are kept to report the result ({params} million weights).</source>
            <translation>Entraînement sur {train} exemples ; {select} choisissent les époques, {val} sont gardés pour mesurer le résultat ({params} millions de poids).</translation>
        </message>
        <message>
            <source>Training the encoder: epoch {epoch} of {epochs}, {metric} {value} on the model-selection examples (best {best})</source>
            <translation>Entraînement de l'encodeur : époque {epoch} sur {epochs}, {metric} {value} sur les exemples de sélection (meilleure {best})</translation>
        </message>
        <message>
            <source>Training through the LLM: epoch {epoch} of {epochs}, step {step} of {steps}</source>
            <translation>Entraînement à travers le LLM : époque {epoch} sur {epochs}, étape {step} sur {steps}</translation>
        </message>
        <message>
            <source>Training through the LLM: epoch {epoch} finished, {metric} {value} on the model-selection examples (best {best})</source>
            <translation>Entraînement à travers le LLM : époque {epoch} terminée, {metric} {value} sur les exemples de sélection (meilleure {best})</translation>
        </message>
        <message>
            <source>Bundle written to {path}</source>
            <translation>Paquet de modèle écrit dans {path}</translation>
        </message>
        <message>
            <source>Converting {name} to COPC...</source>
            <translation>Conversion de {name} en COPC...</translation>
        </message>
        <message>
            <source>The backend returned {n} labels for a block of {m} pixels.</source>
            <translation>Le serveur a renvoyé {n} étiquettes pour un bloc de {m} pixels.</translation>
        </message>
        <message>
            <source>{task} (cancelled)</source>
            <translation>{task} (annulé)</translation>
        </message>
        <message>
            <source>{task}: cancelled.</source>
            <translation>{task} : annulé.</translation>
        </message>
        <message>
            <source>The task failed.</source>
            <translation>La tâche a échoué.</translation>
        </message>
        <message>
            <source>The label layer has no labelled features.</source>
            <translation>La couche d'étiquettes n'a aucune entité étiquetée.</translation>
        </message>
        <message>
            <source>No labelled point falls on the raster.</source>
            <translation>Aucun point étiqueté ne tombe sur le raster.</translation>
        </message>
        <message>
            <source>The labels have no field '{field}'.</source>
            <translation>Les étiquettes n'ont pas de champ « {field} ».</translation>
        </message>
        <message>
            <source>The layer '{name}' has no labelled features (field '{field}').</source>
            <translation>La couche « {name} » n'a aucune entité étiquetée (champ « {field} »).</translation>
        </message>
        <message>
            <source>No labelled feature of the layer '{name}' falls on the raster layer '{raster}'.</source>
            <translation>Aucune entité étiquetée de la couche « {name} » ne tombe sur la couche raster « {raster} ».</translation>
        </message>
        <message>
            <source>Classes without a labelled pixel on the raster: {names}</source>
            <translation>Classes sans pixel étiqueté sur le raster : {names}</translation>
        </message>
        <message>
            <source>The layer has no target field '{field}'.</source>
            <translation>La couche n'a pas de champ cible « {field} ».</translation>
        </message>
        <message>
            <source>patch {k} of {n}</source>
            <translation>imagette {k} sur {n}</translation>
        </message>
        <message>
            <source>The features of the layer '{name}' cannot be placed in the raster's coordinate reference system: {error}</source>
            <translation>Les entités de la couche « {name} » ne peuvent pas être placées dans le système de coordonnées du raster : {error}</translation>
        </message>
    </context>
</TS>
